/* The /hello of berth's hello-world test image (scripts/make-test-images.sh builds it with
 * `gcc -static -Os`). Docker's hello-world message, adapted to berth, which has no daemon.
 * Exits 0 when the whole message was written, 1 otherwise. */
#include <errno.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH "amd64"
#elif defined(__aarch64__)
#define ARCH "arm64v8"
#elif defined(__arm__)
#define ARCH "arm32v7"
#elif defined(__i386__)
#define ARCH "i386"
#elif defined(__powerpc64__)
#define ARCH "ppc64le"
#elif defined(__s390x__)
#define ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define ARCH "riscv64"
#else
#define ARCH "unknown"
#endif

static const char message[] =
    "\n"
    "Hello from berth!\n"
    "This message shows that your installation appears to be working correctly.\n"
    "\n"
    "To generate this message, berth took the following steps:\n"
    " 1. The berth command line opened its image store (no daemon involved).\n"
    " 2. berth found the \"hello-world\" image in that store.\n"
    "    (" ARCH ")\n"
    " 3. berth created a new container from that image, and its monitor process\n"
    "    started the executable that produces the output you are currently reading.\n"
    " 4. berth streamed that output from the container to your terminal.\n"
    "\n"
    "To try something more ambitious, you can run a busybox container with:\n"
    " $ berth run -it busybox sh\n"
    "\n"
    "berth speaks Docker's command line and Engine API, so the commands and\n"
    "scripts you use with docker work with berth too.\n"
    "\n"
    "For more examples and ideas, see berth's documentation in docs/.\n"
    "\n";

int main(void)
{
    const char *p = message;
    size_t left = sizeof(message) - 1;

    while (left > 0) {
        ssize_t n = write(STDOUT_FILENO, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        p += n;
        left -= (size_t)n;
    }
    return 0;
}
