/* Tests of the one directory expansion (cg_model_dir_files) that static loading, the CLI and
 * the reload watch share: which entries count, their order and their paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void touch(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static void test_resource_files_sorted(void **state)
{
    (void)state;
    char dir[] = "/tmp/cg-dir-files-XXXXXX";
    assert_non_null(mkdtemp(dir));
    touch(dir, "b.yaml");
    touch(dir, "a.yml");
    touch(dir, "C.json");
    touch(dir, ".hidden.yaml"); /* dot files are skipped */
    touch(dir, "notes.txt");    /* not a resource file */
    touch(dir, "x.yaml.bak");
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/sub.yaml", dir); /* a directory, whatever its name */
    assert_int_equal(mkdir(sub, 0700), 0);
    char link[128], target[128];
    snprintf(link, sizeof(link), "%s/link.yaml", dir); /* links are followed */
    snprintf(target, sizeof(target), "%s/b.yaml", dir);
    assert_int_equal(symlink(target, link), 0);

    cg_model_paths_t p = {0};
    assert_int_equal(cg_model_dir_files(dir, &p), 0);
    const char *want[] = {"C.json", "a.yml", "b.yaml", "link.yaml"}; /* strcmp order */
    assert_int_equal(p.len, 4);
    for (size_t i = 0; i < 4; i++) {
        char w[256];
        snprintf(w, sizeof(w), "%s/%s", dir, want[i]);
        assert_string_equal(p.items[i], w);
    }
    cg_model_paths_free(&p);

    /* a trailing slash is not doubled; results are appended */
    char slashed[128];
    snprintf(slashed, sizeof(slashed), "%s/", dir);
    cg_vec_push(&p, strdup("first"));
    assert_int_equal(cg_model_dir_files(slashed, &p), 0);
    assert_int_equal(p.len, 5);
    assert_string_equal(p.items[0], "first");
    char w[256];
    snprintf(w, sizeof(w), "%s/C.json", dir);
    assert_string_equal(p.items[1], w);
    cg_model_paths_free(&p);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    /* a missing directory: its errno, nothing appended */
    assert_int_equal(cg_model_dir_files(dir, &p), ENOENT);
    assert_int_equal(p.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resource_files_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
