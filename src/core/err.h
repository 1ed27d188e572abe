/* One table of crossgate error codes: negative ints, with cg_strerror(). */
#ifndef CG_CORE_ERR_H
#define CG_CORE_ERR_H

#define CG_ERRNO_MAP(X)                                                                            \
    X(EAGAIN, "resource temporarily unavailable")                                                  \
    X(ENOMEM, "out of memory")                                                                     \
    X(EINVAL, "invalid argument")                                                                  \
    X(EPARSE, "parse error")                                                                       \
    X(ELIMIT, "limit exceeded")                                                                    \
    X(ETIMEDOUT, "timed out")                                                                      \
    X(ECONNREFUSED, "connection refused")                                                          \
    X(ECONNRESET, "connection reset")                                                              \
    X(ECLOSED, "connection closed")                                                                \
    X(EIO, "i/o error")                                                                            \
    X(ENOENT, "not found")                                                                         \
    X(EEXIST, "already exists")                                                                    \
    X(EADDRINUSE, "address already in use")                                                        \
    X(EACCES, "permission denied")                                                                 \
    X(ENORES, "out of local resources (file descriptors, socket buffers)")                         \
    X(ESYS, "system call failed")                                                                  \
    X(ECONFLICT, "conflict")

enum {
    CG_OK = 0,
#define CG__ERR_ENUM(name, msg) CG_##name,
    CG__ERR_FIRST = -1000,
    CG_ERRNO_MAP(CG__ERR_ENUM)
#undef CG__ERR_ENUM
        CG__ERR_LAST
};

const char *cg_strerror(int err);
/* Is err our own shortage (descriptors, socket buffers, local ports, memory) rather than a
 * peer's failure? Such errors are never counted against an endpoint. */
static inline int cg_err_local_shortage(int err)
{
    return err == CG_ENORES || err == CG_ENOMEM;
}
/* Maps an errno value to a CG_E* code (CG_ESYS for the unmapped). */
int cg_err_from_errno(int e);

#endif
