/* The error table's strings and errno mapping. */
#include "core/err.h"

#include <errno.h>

const char *cg_strerror(int err)
{
    switch (err) {
    case CG_OK: return "ok";
#define CG__ERR_STR(name, msg)                                                                     \
    case CG_##name: return msg;
        CG_ERRNO_MAP(CG__ERR_STR)
#undef CG__ERR_STR
    default: return "unknown error";
    }
}

int cg_err_from_errno(int e)
{
    switch (e) {
    case EAGAIN: return CG_EAGAIN;
    case ENOMEM: return CG_ENOMEM;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case EADDRNOTAVAIL: return CG_ENORES; /* out of local ports too */
    case EINVAL: return CG_EINVAL;
    case ETIMEDOUT: return CG_ETIMEDOUT;
    case ECONNREFUSED: return CG_ECONNREFUSED;
    case ECONNRESET:
    case EPIPE: return CG_ECONNRESET;
    case ENOENT: return CG_ENOENT;
    case EEXIST: return CG_EEXIST;
    case EADDRINUSE: return CG_EADDRINUSE;
    case EACCES: return CG_EACCES;
    default: return CG_ESYS;
    }
}
