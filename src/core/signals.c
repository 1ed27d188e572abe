/* signalfd-based signal delivery. */
#include "core/signals.h"
#include "core/err.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void on_readable(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    cg_signals_t *s = cg_container_of(io, cg_signals_t, io);
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof(si)) == sizeof(si)) s->cb(loop, (int)si.ssi_signo);
}

int cg_signals_start(cg_signals_t *s, cg_loop_t *loop, const int *signals, size_t n, cg_signal_cb cb)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < n; i++) sigaddset(&set, signals[i]);
    signal(SIGPIPE, SIG_IGN);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return cg_err_from_errno(errno);
    s->cb = cb;
    int r = cg_io_start_level(loop, &s->io, fd, EPOLLIN, on_readable);
    if (r) close(fd);
    return r;
}

void cg_signals_stop(cg_signals_t *s, cg_loop_t *loop)
{
    if (!s->cb) return;
    cg_io_stop(loop, &s->io);
    close(s->io.fd);
    s->cb = NULL;
}
