/* Intrusive doubly-linked lists, container_of and a small typed vector. */
#ifndef CG_CORE_LIST_H
#define CG_CORE_LIST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define cg_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define CG_ARRAY_SIZE(a)                   (sizeof(a) / sizeof((a)[0]))

typedef struct cg_list {
    struct cg_list *prev, *next;
} cg_list_t;

static inline void cg_list_init(cg_list_t *l)
{
    l->prev = l->next = l;
}
static inline int cg_list_empty(const cg_list_t *l)
{
    return l->next == l;
}
static inline int cg_list_linked(const cg_list_t *n)
{
    return n->next != NULL && n->next != n;
}
static inline void cg_list_insert_tail(cg_list_t *head, cg_list_t *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}
static inline void cg_list_insert_head(cg_list_t *head, cg_list_t *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}
static inline void cg_list_unlink(cg_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define cg_list_foreach_safe(pos, tmp, head)                                                       \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

/* A typed growable array: CG_VEC(int) v = {0}; cg_vec_push(&v, 3). Zero value is empty. */
#define CG_VEC(type)                                                                               \
    struct {                                                                                       \
        type *items;                                                                               \
        size_t len, cap;                                                                           \
    }

/* Grows v to hold one more item; aborts on OOM (control-path use only). */
#define cg_vec_reserve1(v)                                                                         \
    do {                                                                                           \
        if ((v)->len == (v)->cap) {                                                                \
            size_t ncap_ = (v)->cap ? (v)->cap * 2 : 4;                                            \
            void *n_ = cg_xrealloc((v)->items, ncap_ * sizeof(*(v)->items));                       \
            (v)->items = n_;                                                                       \
            (v)->cap = ncap_;                                                                      \
        }                                                                                          \
    } while (0)
#define cg_vec_push(v, x)                                                                          \
    do {                                                                                           \
        cg_vec_reserve1(v);                                                                        \
        (v)->items[(v)->len++] = (x);                                                              \
    } while (0)
#define cg_vec_free(v)                                                                             \
    do {                                                                                           \
        free((v)->items);                                                                          \
        (v)->items = NULL;                                                                         \
        (v)->len = (v)->cap = 0;                                                                   \
    } while (0)

/* Allocation for bounded control-path sizes: aborts with a message on OOM. */
void *cg_xmalloc(size_t n);
void *cg_xcalloc(size_t n, size_t sz);
void *cg_xrealloc(void *p, size_t n);
char *cg_xstrdup(const char *s);
char *cg_xstrndup(const char *s, size_t n);
/* A formatted string, malloc'd. */
char *cg_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
char *cg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
