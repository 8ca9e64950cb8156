// SPDX-License-Identifier: MIT
// A program with one deliberate bug per mode, for the harness test that proves a real
// sanitizer report in a child's stderr fails the test: "overflow" (ASan), "leak" (LSan, at
// exit), "race" (TSan), "overflow-int" (UBSan). It prints "ready" and then waits for SIGTERM,
// on which it exits 0, as ringlb does.
#include <signal.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>

namespace {

volatile int sink = 0;
int* volatile leaked = nullptr;  // "leak" mode: the only pointer to a block, then overwritten
int shared_counter = 0;          // written by two threads without synchronisation in "race" mode

void wait_for_term() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    std::puts("ready");
    std::fflush(stdout);
    int signo = 0;
    sigwait(&set, &signo);
}

// The leak, in a frame of its own that is gone before exit, and that frame's stack then
// overwritten: LeakSanitizer scans stacks and registers conservatively, and clang -O2 left
// the block's address in main's frame, where it counted as reachable.
[[gnu::noinline]] void leak_a_block() {
    leaked = new int(7);
    leaked = nullptr;  // never freed: LeakSanitizer reports it at exit
}

[[gnu::noinline]] void scrub_stack() {
    volatile char scratch[16384];
    for (volatile char& byte : scratch) {
        byte = 0;
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "";
    if (std::strcmp(mode, "leak") == 0) {
        leak_a_block();
        scrub_stack();
        wait_for_term();
        return 0;
    }
    wait_for_term();
    if (std::strcmp(mode, "overflow") == 0) {
        int* array = new int[4];
        sink = array[sink + 4];  // one past the end
        delete[] array;
    } else if (std::strcmp(mode, "race") == 0) {
        std::thread other([] { shared_counter += 1; });
        shared_counter += 1;
        other.join();
    } else if (std::strcmp(mode, "overflow-int") == 0) {
        int value = INT_MAX - sink;
        sink = value + 1;
    }
    return 0;
}
