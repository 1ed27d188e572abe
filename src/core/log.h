/* Process log (not the access log): leveled lines on stderr. */
#ifndef CG_CORE_LOG_H
#define CG_CORE_LOG_H

enum { CG_LOG_DEBUG, CG_LOG_INFO, CG_LOG_WARN, CG_LOG_ERROR };

extern int cg_log_level;

void cg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cg_log_debug(...) (cg_log_level <= CG_LOG_DEBUG ? cg_log(CG_LOG_DEBUG, __VA_ARGS__) : (void)0)
#define cg_log_info(...) cg_log(CG_LOG_INFO, __VA_ARGS__)
#define cg_log_warn(...) cg_log(CG_LOG_WARN, __VA_ARGS__)
#define cg_log_error(...) cg_log(CG_LOG_ERROR, __VA_ARGS__)

#endif
