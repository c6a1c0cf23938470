/* Shared by the C tests: fail loudly, with nsmon's detailed message, on the first bad check. */
#ifndef NSMON_TEST_CHECK_H
#define NSMON_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <nsmon.h>

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__,    \
                    __LINE__, #cond, nsmon_last_error());                              \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#endif
