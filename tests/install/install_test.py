#!/usr/bin/env python3
"""The package as an embedder meets it: `cmake --install` this build into a fresh prefix, check what
landed where, build examples/upper against it twice (find_package(ringwire), then pkg-config), and
run each build over loopback: pipelined frames come back upper-cased, in order, and SIGTERM drains
it to exit 0. Every step is bounded; the prefix is deleted afterwards.

Usage: install_test.py BUILD_DIR SOURCE_DIR CXX [EXTRA_CXX_FLAGS]
(EXTRA_CXX_FLAGS: the sanitizer flags of a sanitized build, which its library needs at link time.)
RINGWIRE_CXX_LAUNCHER in the environment (ccache, say) compiles the example through it.
"""
import glob
import os
import random
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile

STEP_TIMEOUT = 240  # seconds: one configure, build or install on a busy 2-core machine


def run(args, **kwargs):
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, timeout=STEP_TIMEOUT, **kwargs)


def expect(condition, what):
    if not condition:
        sys.exit(f"install_test: FAILED: {what}")


def check_layout(prefix):
    def one(pattern):
        found = glob.glob(os.path.join(prefix, pattern))
        expect(len(found) == 1, f"{pattern} installed once under {prefix} (found {found})")
        return found[0]

    one("bin/ringwire-server")
    one("bin/ringwire-load")
    one("include/ringwire/server.h")
    one("include/ringwire/service.h")
    expect(not glob.glob(os.path.join(prefix, "include/ringwire/connection.h")),
           "core/internal headers are not installed")
    one("lib*/libringwire.*")
    one("lib*/cmake/ringwire/ringwireConfig.cmake")
    one("lib*/cmake/ringwire/ringwireConfigVersion.cmake")
    one("lib*/cmake/ringwire/ringwireTargets.cmake")
    one("share/doc/ringwire/README.md")
    one("share/doc/ringwire/LICENSE")
    one("share/doc/ringwire/tuning.md")
    server = os.path.realpath(os.path.join(prefix, "bin/ringwire-server"))
    for unit in ("ringwire-server.service", "ringwire-server@.service"):
        with open(one(f"lib/systemd/system/{unit}")) as text:
            starts = [line for line in text if line.startswith("ExecStart=")]
        expect(len(starts) == 1 and starts[0].split()[0] == f"ExecStart={server}",
               f"{unit} runs the installed {server} (found {starts})")
    if shutil.which("help2man"):  # the build makes man pages when it finds help2man
        pages = {"ringwire-server.1": r"\-\-max\-frame", "ringwire-load.1": r"\-\-connections"}
        for page, flag in pages.items():  # help2man writes each dash as \-
            with open(one(f"share/man/man1/{page}")) as man:
                expect(flag in man.read(), f"{page} lists {flag}")
    return os.path.dirname(one("lib*/pkgconfig/ringwire.pc"))


def serve_and_check(binary):
    """Runs the example, talks to it over loopback, SIGTERMs it; exits the test on any failure."""
    proc = subprocess.Popen([binary, "0"], stdout=subprocess.PIPE, text=True)
    try:
        readable, _, _ = select.select([proc.stdout], [], [], 30)
        ready = proc.stdout.readline() if readable else ""
        expect(ready.startswith("upper listening on port "), f"ready line, got {ready!r}")
        port = int(ready.split()[-1])
        rng = random.Random(7)
        payloads = [bytes(rng.choice(b"abcxyz ABC-09!") for _ in range(rng.randint(0, 3000)))
                    for _ in range(50)]
        stream = b"".join(struct.pack(">I", len(p)) + p for p in payloads)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for start in range(0, len(stream), 997):  # split across frame boundaries
                sock.sendall(stream[start:start + 997])
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        expected = b"".join(struct.pack(">I", len(p)) + p.upper() for p in payloads)
        expect(received == expected, f"{len(payloads)} frames upper-cased in order "
                                     f"({len(received)} of {len(expected)} bytes)")
        proc.send_signal(signal.SIGTERM)
        expect(proc.wait(timeout=10) == 0, "exit 0 after SIGTERM")
        print(f"install_test: {binary}: {len(payloads)} frames answered, drained on SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    build_dir, source_dir, cxx = sys.argv[1:4]
    extra_flags = sys.argv[4] if len(sys.argv) > 4 else ""
    launcher = os.environ.get("RINGWIRE_CXX_LAUNCHER", "")
    example = os.path.join(source_dir, "examples", "upper")
    with open(os.path.join(source_dir, "README.md")) as readme, \
            open(os.path.join(example, "upper.cc")) as source:
        expect(source.read() in readme.read(), "README's Embedding section is examples/upper/upper.cc")
    with tempfile.TemporaryDirectory(prefix="ringwire-install-") as tmp:
        prefix = os.path.join(tmp, "prefix")
        run(["cmake", "--install", build_dir, "--prefix", prefix], stdout=subprocess.DEVNULL)
        pc_dir = check_layout(prefix)

        # 0. Every installed header compiles from the installed tree alone (none needs one of
        # core/internal or src/, which are not installed).
        headers = sorted(glob.glob(os.path.join(prefix, "include", "ringwire", "*.h")))
        all_headers = os.path.join(tmp, "all_headers.cc")
        with open(all_headers, "w") as out:
            out.writelines(f'#include "ringwire/{os.path.basename(h)}"\n' for h in headers)
        run([cxx, "-std=c++20", "-fsyntax-only", "-I", os.path.join(prefix, "include"),
             all_headers])

        # 1. CMake: find_package(ringwire) -> ringwire::core
        cmake_build = os.path.join(tmp, "upper-cmake")
        run(["cmake", "-S", example, "-B", cmake_build, "-G", "Ninja",
             f"-DCMAKE_PREFIX_PATH={prefix}", f"-DCMAKE_CXX_COMPILER={cxx}",
             f"-DCMAKE_CXX_FLAGS={extra_flags}",
             f"-DCMAKE_CXX_COMPILER_LAUNCHER={launcher}"], stdout=subprocess.DEVNULL)
        run(["cmake", "--build", cmake_build])
        serve_and_check(os.path.join(cmake_build, "upper"))

        # 2. pkg-config: the same source, compiled and linked with ringwire.pc's flags alone
        env = dict(os.environ, PKG_CONFIG_PATH=pc_dir)
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "ringwire"], env=env,
                               check=True, capture_output=True, text=True,
                               timeout=STEP_TIMEOUT).stdout.split()
        pc_binary = os.path.join(tmp, "upper-pc")
        run([*shlex.split(launcher), cxx, "-std=c++20", *shlex.split(extra_flags), os.path.join(example, "upper.cc"),
             "-o", pc_binary, *flags])
        serve_and_check(pc_binary)


if __name__ == "__main__":
    main()
