"""Test configuration for tests/ and the packages' docstring examples (doctest): float64 on, silent rank
promotion an error, hypothesis profiles, the names docstring examples use, and what keeps compiling cheap (XLA's
backend optimisation lowered, one persistent compilation cache per test session).

``HYPOTHESIS_PROFILE=thorough`` selects the long profile (default: ``fast``).
"""

import functools
import os
from pathlib import Path

import jax

os.environ.setdefault(
    "COMAL_COMPILE_CACHE", "0"
)  # studies run in-process: no persistent cache shared across test runs (the user's cache folder stays out)


def _session_compile_cache() -> None:
    """JAX's persistent compilation cache in a folder of this test session only: the xdist workers (and the
    processes tests start) inherit it from the controller through the environment, so a program one process
    compiled is loaded, not compiled again, by the others, and by the same process after its caches are cleared
    (``_free_compiled_programs``, ``fresh_programs``) or for a new rule object of the same program. A new folder
    per session, removed at its end: no test run sees another's programs. ``COMAL_TEST_COMPILE_CACHE=0`` turns it
    off."""
    import atexit
    import shutil
    import tempfile

    if os.environ.get("COMAL_TEST_COMPILE_CACHE") == "0":
        return
    if not os.environ.get("COMAL_TEST_COMPILE_CACHE_DIR"):  # the session's first process owns the folder
        folder = tempfile.mkdtemp(prefix="comal-tests-jax-cache-")
        os.environ["COMAL_TEST_COMPILE_CACHE_DIR"] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["COMAL_TEST_COMPILE_CACHE_DIR"]
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # tests' programs are small; keep them all
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


_session_compile_cache()
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "fast", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


import pytest  # noqa: E402


def pytest_configure(config):
    """XLA:CPU's backend optimisation lowered for tests, where compiling dominates (measured on 2 idle cores):
    off (level 0) in a run that leaves the slow tests out (``-m 'not slow'``, the default), whose programs are
    tiny and run a few steps (the default run: 199 s at level 0, 252 s at level 1); level 1 without LLVM's
    expensive passes in the slow set, whose long runs level 0 slows down (the slow tests of five modules: 154 s
    at the default level, 153 s at level 0, where one sampled COMAL test took 109 s instead of 28 s, and 133 s
    here; the whole slow set: 651 s at the default level, 586 s here). Set before any computation starts XLA's
    backend (which reads ``XLA_FLAGS`` once), inherited by the xdist workers and the processes tests start; a
    user's ``XLA_FLAGS`` naming the level wins."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        slow_set = "not slow" not in (config.option.markexpr or "")
        level = "1 --xla_llvm_disable_expensive_passes=true" if slow_set else "0"
        os.environ["XLA_FLAGS"] = f"{flags} --xla_backend_optimization_level={level}".strip()


def pytest_xdist_make_scheduler(config, log):
    """xdist's default ``load``, except that the tests of a module that read one of its module-scoped fixtures (a
    study run that several tests check) go to one worker together, first: the fixture then runs once, not once on
    each worker that got one of them (xdist's ``xdist_group`` marks no longer group under pytest 9)."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module, _, name = nodeid.partition("::")
            return module if name.split("[")[0] in _readers_of_module_fixtures(module) else nodeid

    return SharedRunsTogether(config, log)


@functools.cache
def _readers_of_module_fixtures(module: str) -> frozenset[str]:
    """The test functions of ``module`` (a path from the root) that take one of its module-scoped fixtures."""
    import ast

    path = Path(__file__).parent / module
    if path.suffix != ".py" or not path.name.startswith("test_") or not path.is_file():
        return frozenset()
    functions = [f for f in ast.parse(path.read_text()).body if isinstance(f, ast.FunctionDef)]
    shared = {
        f.name
        for f in functions
        for d in f.decorator_list
        if isinstance(d, ast.Call)
        and any(k.arg == "scope" and getattr(k.value, "value", None) == "module" for k in d.keywords)
    }
    return frozenset(
        f.name for f in functions if f.name.startswith("test") and shared & {a.arg for a in f.args.args}
    )


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import jax.numpy as jnp
    import numpy as np

    import algorithms
    import games

    doctest_namespace.update(jax=jax, jnp=jnp, np=np, games=games, algorithms=algorithms)


def _memory_maps() -> int | None:
    """How many memory maps this process holds (Linux), or None where /proc cannot say."""
    try:
        with open("/proc/self/maps", "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return None


def _max_map_count() -> int:
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 65530  # Linux's default


#: Clear JAX's caches once the process holds this many memory maps: half the kernel's limit (at most half the
#: default, so a machine with a huge limit does not keep thousands of programs in RAM), so one more test
#: (the largest compiles a few hundred programs) cannot reach it.
_MAP_BUDGET = min(_max_map_count(), 65530) // 2


@pytest.fixture(autouse=True)
def _free_compiled_programs():
    """Drop JAX's compiled programs when they crowd the process's memory maps. XLA:CPU maps memory for every
    executable it keeps; one process compiling the whole suite's thousands of programs reached the kernel's limit
    of memory maps (``vm.max_map_count``, 65530 here) and segfaulted inside the compiler. Clearing after every
    module instead made each module recompile the programs the previous ones had built (the same rules on the
    same games); so the caches are kept until the count of maps, read after each test (~0.2 ms), passes the
    budget below. Where /proc cannot say (not Linux), they are cleared after every module, as
    before."""
    yield
    maps = _memory_maps()
    if maps is not None and maps > _MAP_BUDGET:
        jax.clear_caches()


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs_per_module_without_proc():
    yield
    if _memory_maps() is None:
        jax.clear_caches()


@pytest.fixture
def fresh_programs():
    """No compiled program left from earlier tests: for tests that count compilations (compiled programs are
    kept across modules, so whether a program is new would otherwise depend on the order tests run in)."""
    jax.clear_caches()
    yield


@pytest.fixture(autouse=True)
def _forget_user_modules(tmp_path_factory):
    """Tests write users' modules (``mine.py``, ``users_work.py``) into their own tmp folders: forget them and the
    studies' per-process caches of what ``module:attribute`` names after each test, so a later test's module of
    the same name is imported afresh. Every such module goes, not only those the test itself imported: a
    module-scoped fixture imports its user's module before the first test's window opens."""
    import sys

    yield
    base = str(tmp_path_factory.getbasetemp())
    for name in list(sys.modules):
        if (getattr(sys.modules[name], "__file__", None) or "").startswith(base):
            del sys.modules[name]
    flags = sys.modules.get("experiments.common.flags")
    if flags is not None:
        for fn in ("load_rule", "load_object", "load_instance", "load_game"):
            getattr(getattr(flags, fn, None), "cache_clear", lambda: None)()
