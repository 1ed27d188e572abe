/* Subcommands of the crossgate binary: each takes argv from its own name on. */
#ifndef CG_CLI_CLI_H
#define CG_CLI_CLI_H

int cg_cli_gateway(int argc, char **argv);
int cg_cli_app(int argc, char **argv);
int cg_cli_control(int argc, char **argv);
int cg_cli_apply(int argc, char **argv);
int cg_cli_delete(int argc, char **argv);
int cg_cli_get(int argc, char **argv);
int cg_cli_status(int argc, char **argv);
int cg_cli_load(int argc, char **argv);
int cg_cli_demo(int argc, char **argv);
int cg_cli_token(int argc, char **argv);
int cg_cli_ca(int argc, char **argv);

#endif
