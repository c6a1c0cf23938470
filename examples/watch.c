/*
 * Prints named network namespaces as they appear and disappear, from an epoll loop.
 *
 *   cc watch.c $(pkg-config --cflags --libs nsmon) -o watch && sudo ./watch [DIR]
 */
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <nsmon.h>

int main(int argc, char **argv)
{
    nsmon_watcher_options *options;
    nsmon_watcher *watcher;

    if (nsmon_watcher_options_new(&options) < 0)
        return 1;
    nsmon_watcher_options_set_list_existing(options, true);
    if (argc > 1 && nsmon_watcher_options_set_dir(options, argv[1]) < 0) {
        fprintf(stderr, "watch: %s\n", nsmon_last_error());
        return 1;
    }
    int rc = nsmon_watcher_new(options, &watcher);
    nsmon_watcher_options_free(options);
    if (rc < 0) {
        fprintf(stderr, "watch: %s\n", nsmon_last_error());
        return 1;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event reg = { .events = EPOLLIN, .data.ptr = watcher };
    epoll_ctl(ep, EPOLL_CTL_ADD, nsmon_watcher_fd(watcher), &reg);

    for (;;) {
        struct epoll_event ready;
        if (epoll_wait(ep, &ready, 1, -1) < 0)
            continue; /* EINTR */
        nsmon_watcher_event ev;
        while ((rc = nsmon_watcher_next(watcher, &ev)) == 1) {
            switch (ev.kind) {
            /* Names are the file's bytes: not necessarily UTF-8, maybe control bytes. */
            case NSMON_WATCHER_EVENT_KIND_CREATED:
                printf("+ %.*s\n", (int)ev.name_len, ev.name);
                break;
            case NSMON_WATCHER_EVENT_KIND_DELETED:
                printf("- %.*s\n", (int)ev.name_len, ev.name);
                break;
            case NSMON_WATCHER_EVENT_KIND_OVERFLOW: printf("! overflow, resynced\n"); break;
            default: printf("  directory event %u\n", (unsigned)ev.kind); break;
            }
            fflush(stdout);
        }
        if (rc < 0) {
            fprintf(stderr, "watch: %s\n", nsmon_last_error());
            break;
        }
    }
    close(ep);
    nsmon_watcher_free(watcher);
    return 1;
}
