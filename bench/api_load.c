/*
 * Concurrent clients of a Docker Engine API unix socket: the load of bench.py's `api-list` row.
 *
 *   api_load SOCKET CLIENTS REQUESTS PATH EXPECT
 *   e.g. api_load /run/x.sock 100 5 '/containers/json?all=1' 100
 *
 * Asks the server its API version (GET /version, "ApiVersion") and prefixes PATH with it
 * (/v1.44/... for berth; dockerd 20.10 refuses 1.44, it speaks 1.41), so each server gets the
 * newest request it understands, as a negotiating client sends. Then CLIENTS threads each open
 * their own connection, wait on a barrier so that all start together, and send REQUESTS GETs of
 * the path one after the other on it (HTTP/1.1 keep-alive), timing each from the request written
 * to the last byte of the body read (Content-Length or chunked). Every answer must be 200 and
 * list at least EXPECT containers (`"Id":` keys in the body). Prints `NAME VALUE` lines: p50-ms,
 * p90-ms, p99-ms, max-ms (nearest rank over all requests), req-per-s, requests, entries (the
 * fewest listed); exits 1 with a message when a request failed.
 *
 * C with pthreads rather than Python threads: with the GIL, Python's own thread switching
 * (5 ms slices, 100 threads) made the latencies tens of ms whatever the server did.
 * Build: gcc -O2 -pthread -o api_load api_load.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    char *buf; /* bytes read but not consumed yet: buf[off..len) */
    size_t off, len, cap;
};

struct body {
    char *data;
    size_t len, cap;
};

static const char *sock_path;
static char path[1024];
static int requests_per_client;
static long expect;
static pthread_barrier_t barrier;
static double *latencies; /* [client * requests_per_client + i] */
static long *entries;     /* per client, from its first answer */
static char **errors;     /* per client, NULL when it went well */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(struct conn *c) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(sock_path) >= sizeof addr.sun_path) return -1;
    strcpy(addr.sun_path, sock_path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    c->cap = 1 << 16;
    c->buf = malloc(c->cap);
    c->off = c->len = 0;
    if (!c->buf) return -1;
    return connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
}

/* At least one more byte in the buffer; -1 on EOF or error. */
static int fill(struct conn *c) {
    if (c->off > 0) { /* keep the unconsumed bytes at the start */
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == c->cap) {
        char *b = realloc(c->buf, c->cap * 2);
        if (!b) return -1;
        c->buf = b;
        c->cap *= 2;
    }
    ssize_t n;
    do n = read(c->fd, c->buf + c->len, c->cap - c->len);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return -1;
    c->len += n;
    return 0;
}

/* A line ending in \r\n (NUL-terminated in place, \r\n dropped); NULL on EOF. */
static char *line(struct conn *c) {
    for (;;) {
        char *start = c->buf + c->off;
        char *end = memmem(start, c->len - c->off, "\r\n", 2);
        if (end) {
            *end = '\0';
            c->off = end + 2 - c->buf;
            return start;
        }
        if (fill(c) < 0) return NULL;
    }
}

static int take(struct conn *c, size_t n, struct body *b) {
    while (c->len - c->off < n)
        if (fill(c) < 0) return -1;
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        char *d = realloc(b->data, b->cap);
        if (!d) return -1;
        b->data = d;
    }
    memcpy(b->data + b->len, c->buf + c->off, n);
    b->len += n;
    b->data[b->len] = '\0';
    c->off += n;
    return 0;
}

/* One request; the status, the body (decoded) in *b. */
static int get(struct conn *c, const char *p, struct body *b) {
    char req[1200];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: berth-bench\r\n\r\n", p);
    for (int w = 0; w < n;) {
        ssize_t k = write(c->fd, req + w, n - w);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        w += k;
    }
    char *l = line(c);
    int status;
    if (!l || sscanf(l, "HTTP/1.%*d %d", &status) != 1) return -1;
    long length = -1;
    int chunked = 0;
    while ((l = line(c)) && *l) {
        if (!strncasecmp(l, "Content-Length:", 15)) length = atol(l + 15);
        else if (!strncasecmp(l, "Transfer-Encoding:", 18) && strcasestr(l + 18, "chunked")) chunked = 1;
    }
    if (!l) return -1;
    b->len = 0;
    if (chunked) {
        for (;;) {
            if (!(l = line(c))) return -1;
            long size = strtol(l, NULL, 16);
            if (size == 0) {
                while ((l = line(c)) && *l) {} /* trailers, then the empty line */
                if (!l) return -1;
                break;
            }
            if (take(c, size, b) < 0 || !(l = line(c))) return -1;
        }
    } else if (length >= 0) {
        if (take(c, length, b) < 0) return -1;
    } else {
        return -1; /* no framing: a keep-alive client cannot tell where the body ends */
    }
    return status;
}

static long count(const struct body *b, const char *needle) {
    long n = 0;
    for (const char *p = b->data; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void *client(void *arg) {
    long id = (long)arg;
    struct conn c = {0};
    struct body b = {0};
    char msg[1400];
    int ok = dial(&c) == 0; /* before the barrier: the timed part is the requests, not connect */
    if (!ok) snprintf(msg, sizeof msg, "connect %s: %s", sock_path, strerror(errno));
    pthread_barrier_wait(&barrier);
    for (int i = 0; ok && i < requests_per_client; i++) {
        double start = now();
        int status = get(&c, path, &b);
        latencies[id * requests_per_client + i] = now() - start;
        if (status != 200) {
            snprintf(msg, sizeof msg, "GET %s: %s %d: %.200s", path, status < 0 ? "broken answer" : "status",
                     status, b.data ? b.data : "");
            ok = 0;
        } else if (i == 0) {
            entries[id] = count(&b, "\"Id\":");
        }
    }
    if (!ok) errors[id] = strdup(msg);
    if (c.fd > 0) close(c.fd);
    free(c.buf);
    free(b.data);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *xs, long n, int q) {
    long rank = (q * n + 99) / 100; /* nearest rank, ceil(q/100 * n) */
    return xs[(rank < 1 ? 1 : rank) - 1];
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s SOCKET CLIENTS REQUESTS PATH EXPECT\n", argv[0]);
        return 2;
    }
    sock_path = argv[1];
    long clients = atol(argv[2]);
    requests_per_client = atoi(argv[3]);
    expect = atol(argv[5]);
    if (clients < 1 || requests_per_client < 1) {
        fprintf(stderr, "api_load: CLIENTS and REQUESTS must be at least 1\n");
        return 2;
    }

    struct conn c = {0};
    struct body b = {0};
    const char *v;
    char version[32];
    if (dial(&c) != 0 || get(&c, "/version", &b) != 200 || !(v = strstr(b.data, "\"ApiVersion\":\"")) ||
        sscanf(v + 14, "%31[0-9.]", version) != 1) {
        fprintf(stderr, "api_load: GET /version on %s failed\n", sock_path);
        return 1;
    }
    close(c.fd);
    snprintf(path, sizeof path, "/v%s%s", version, argv[4]);

    latencies = calloc(clients * requests_per_client, sizeof *latencies);
    entries = calloc(clients, sizeof *entries);
    errors = calloc(clients, sizeof *errors);
    pthread_t *threads = calloc(clients, sizeof *threads);
    if (!latencies || !entries || !errors || !threads) return 1;
    pthread_barrier_init(&barrier, NULL, clients + 1);
    for (long i = 0; i < clients; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 << 10);
        if (pthread_create(&threads[i], &attr, client, (void *)i) != 0) {
            fprintf(stderr, "api_load: cannot start thread %ld\n", i);
            return 1;
        }
    }
    pthread_barrier_wait(&barrier);
    double start = now();
    for (long i = 0; i < clients; i++) pthread_join(threads[i], NULL);
    double wall = now() - start;

    long failed = 0, fewest = -1;
    for (long i = 0; i < clients; i++) {
        if (errors[i] && failed++ == 0) fprintf(stderr, "api_load: %s\n", errors[i]);
        if (fewest < 0 || entries[i] < fewest) fewest = entries[i];
    }
    if (failed) {
        fprintf(stderr, "api_load: %ld of %ld clients failed\n", failed, clients);
        return 1;
    }
    if (fewest < expect) {
        fprintf(stderr, "api_load: %s listed %ld containers; expected at least %ld\n", path, fewest, expect);
        return 1;
    }
    long n = clients * requests_per_client;
    qsort(latencies, n, sizeof *latencies, cmp);
    printf("path %s\n", path);
    printf("p50-ms %.3f\np90-ms %.3f\np99-ms %.3f\nmax-ms %.3f\n", pct(latencies, n, 50) * 1e3,
           pct(latencies, n, 90) * 1e3, pct(latencies, n, 99) * 1e3, latencies[n - 1] * 1e3);
    printf("req-per-s %.1f\nrequests %ld\nentries %ld\n", n / wall, n, fewest);
    return 0;
}
