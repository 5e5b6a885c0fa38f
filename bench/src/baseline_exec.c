/* The true limit of the exec path: a wrapper that does nothing but execve
 * the program named by BENCH_REAL with its own argv and environment.
 * Built with gcc -O2 -static -no-pie. */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv, char **envp) {
    (void)argc;
    const char *real = getenv("BENCH_REAL");
    if (real == NULL)
        return 127;
    execve(real, argv, envp);
    return 127;
}
