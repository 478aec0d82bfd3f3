#!/usr/bin/python3
"""The regression runner: unit-test programs, end-to-end tests against a
running boxd with real clients, short fuzz runs, the man-page lint and the
format check.
Ends with "N passed, N failed" and exits non-zero on any failure."""

import glob
import os
import subprocess
import sys
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
FUZZ_SECONDS = os.environ.get("FUZZ_SECONDS", "5")

passed = failed = skipped = 0
failures = []


def record(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        failures.append(name)
        print("FAIL %s %s" % (name, detail), flush=True)


def expected_programs(pattern, built):
    """The programs the sources promise: a missing one is a failure, so
    that a broken build cannot pass by running none of them."""
    progs = []
    for src in sorted(glob.glob(os.path.join(TOP, pattern))):
        prog = built(src)
        if os.path.isfile(prog) and os.access(prog, os.X_OK):
            progs.append(prog)
        else:
            record(os.path.relpath(prog, TOP), False,
                   "not built (from %s)" % os.path.relpath(src, TOP))
    return progs


def run_units():
    def built(src):
        return os.path.join(TOP, BUILD, os.path.relpath(src, TOP)[:-2])

    for prog in expected_programs(os.path.join("regress", "*", "test_*.c"),
                                  built):
        name = os.path.relpath(prog, os.path.join(TOP, BUILD))
        p = subprocess.run([prog], cwd=TOP, capture_output=True, text=True,
                           errors="replace", timeout=600)
        oks = [l for l in p.stdout.splitlines() if l.startswith("ok ")]
        fails = [l for l in p.stdout.splitlines() if l.startswith("FAIL ")]
        for _ in oks:
            record(name, True)
        for l in fails:
            record(name, False, l)
        if p.returncode != 0 and not fails:
            record(name, False, "exit %d: %s" % (p.returncode,
                                                 p.stderr[-2000:]))
        print("%-40s %d ok, %d failed" % (name, len(oks), len(fails)),
              flush=True)


def run_fuzz():
    def built(src):
        return os.path.join(TOP, "build-fuzz", os.path.basename(src)[:-2])

    for prog in expected_programs(os.path.join("regress", "fuzz",
                                               "fuzz_*.c"), built):
        name = os.path.basename(prog)
        corpus = os.path.join(TOP, "regress", "fuzz", "corpus",
                              name[len("fuzz_"):])
        work = os.path.join(TOP, "build-fuzz", name + ".corpus")
        os.makedirs(work, exist_ok=True)
        args = [prog, "-max_total_time=" + FUZZ_SECONDS, "-timeout=10",
                "-rss_limit_mb=2048", work]
        if os.path.isdir(corpus):
            args.append(corpus)
        p = subprocess.run(args, cwd=os.path.join(TOP, "build-fuzz"),
                           capture_output=True, text=True, errors="replace")
        record("fuzz/" + name, p.returncode == 0, p.stderr[-3000:])
        print("%-40s %s" % ("fuzz/" + name,
                            "ok" if p.returncode == 0 else "FAILED"),
              flush=True)


def run_mandoc():
    pages = sorted(glob.glob(os.path.join(TOP, "man", "*.[0-9]")))
    for page in pages:
        p = subprocess.run(["mandoc", "-Tlint", "-Wwarning", page],
                           capture_output=True, text=True)
        out = (p.stdout + p.stderr).strip()
        record("mandoc " + os.path.basename(page), out == "", out)


def run_format():
    p = subprocess.run(["make", "--no-print-directory", "-s",
                        "format-check"], cwd=TOP, capture_output=True,
                       text=True)
    out = (p.stdout + p.stderr).strip()
    record("format-check", p.returncode == 0, out[-2000:])


class Counter(unittest.TextTestResult):
    def addSuccess(self, test):
        super().addSuccess(test)
        record(test.id(), True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        record(test.id(), False, self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        record(test.id(), False, self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        global skipped
        super().addSkip(test, reason)
        # the one reason to skip is not being root; CI runs as root, where
        # nothing may be skipped
        if os.geteuid() == 0:
            record(test.id(), False, "skipped as root: " + reason)
        else:
            skipped += 1
            print("SKIP %s: %s" % (test.id(), reason), flush=True)


def run_e2e():
    sys.path.insert(0, os.path.join(TOP, "regress", "e2e"))
    loader = unittest.TestLoader()
    suite = loader.discover(os.path.join(TOP, "regress", "e2e"),
                            pattern="test_*.py",
                            top_level_dir=os.path.join(TOP, "regress", "e2e"))
    runner = unittest.TextTestRunner(resultclass=Counter, verbosity=2,
                                     stream=sys.stdout)
    runner.run(suite)


def main():
    os.environ.setdefault("BOXD", os.path.join(TOP, "boxd", "boxd"))
    os.environ.setdefault("BOXCTL", os.path.join(TOP, "ctl", "boxctl"))
    for k in ("BOXD", "BOXCTL"):
        os.environ[k] = os.path.join(TOP, os.environ[k])
    # LeakSanitizer cannot stop the world inside the seccomp sandbox
    os.environ.setdefault("ASAN_OPTIONS",
                          "detect_leaks=0:abort_on_error=0:exitcode=86")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:exitcode=86")
    only = sys.argv[1:]
    if not only or "unit" in only:
        run_units()
    if not only or "e2e" in only:
        run_e2e()
    if not only or "fuzz" in only:
        run_fuzz()
    if not only or "man" in only:
        run_mandoc()
    if not only or "format" in only:
        run_format()
    if failures:
        print("\nfailed:")
        for f in failures:
            print("  " + f)
    if skipped:
        print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    else:
        print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
