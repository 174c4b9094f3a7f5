"""games.io: atomic writes under concurrency, float32 round trips, and a clear error for every bad file."""

import json
import multiprocessing
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from games import io

# --- atomic_write (issue 10, item 2) -----------------------------------------------------------------------------


def _writer_game(i):
    """Writer i's game: a Condorcet cycle of its own size and strength, so any mixture is detectable."""
    return games.condorcet_cycle(3 + i, 0.6 + 0.1 * i)


def _writer(i, path, go, seconds, out):
    jax.config.update("jax_enable_x64", True)
    g, n = _writer_game(i), 0
    io.save(g, path.with_name(f"warm{i}.json"))  # warm up outside the timed window
    go.wait()
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            io.save(g, path)
            n += 1
        out.put(("writer", i, n, None))
    except BaseException as err:  # report, never hang the test
        out.put(("writer", i, n, repr(err)))


def _reader(path, kind, go, done, out):
    jax.config.update("jax_enable_x64", True)
    expected = [np.asarray(_writer_game(i).A) for i in range(4)]
    io.load(path, kind=kind)  # warm up
    reads, bad = 0, []
    go.wait()
    while not done.is_set() or reads == 0:
        try:
            A = np.asarray(io.load(path, kind=kind).A)
            if not any(A.shape == E.shape and np.array_equal(A, E) for E in expected):
                bad.append(f"a game that no writer wrote: shape {A.shape}")
        except Exception as err:  # a partial file: a parse or validation error
            bad.append(repr(err))
        reads += 1
    out.put(("reader", 0, reads, "; ".join(bad[:3]) or None))


@pytest.mark.slow  # five process start-ups (each imports JAX): 4-9 s
@pytest.mark.parametrize("suffix", [".json", ".npy"])
def test_concurrent_writer_processes_and_a_reader_never_see_a_partial_game(tmp_path, suffix):
    # before: every writer used <path>.tmp, and the reader saw partial and mixed games
    path = tmp_path / f"game{suffix}"
    io.save(_writer_game(0), path)
    ctx = multiprocessing.get_context("spawn")  # fork after JAX has started threads can deadlock
    go, done, out = ctx.Barrier(5), ctx.Event(), ctx.Queue()
    writers = [ctx.Process(target=_writer, args=(i, path, go, 0.5, out)) for i in range(4)]
    reader = ctx.Process(target=_reader, args=(path, "preference", go, done, out))
    for p in (*writers, reader):
        p.start()  # each imports JAX (~1 s) then waits at the barrier: the 0.5 s of writing overlaps
    results = [out.get(timeout=60) for _ in writers]
    done.set()
    results.append(out.get(timeout=60))
    for p in (*writers, reader):
        p.join(timeout=30)
    for who, i, count, error in results:
        assert error is None, f"{who} {i}: {error}"
        assert count >= 5, f"{who} {i} ran only {count} times"
    assert sorted(os.listdir(tmp_path)) == sorted(
        [path.name] + [f"warm{i}.json" for i in range(4)]
    )  # no temps


@pytest.mark.parametrize("suffix", [".json", ".npy", ".csv"])
def test_concurrent_writer_threads_and_a_reader_never_see_a_partial_game(tmp_path, suffix):
    # the same race in one process (file I/O releases the GIL): fast enough for the default run
    import threading

    path = tmp_path / f"game{suffix}"
    gs = (
        [_writer_game(i) for i in range(4)]
        if suffix != ".csv"
        else [games.condorcet_cycle(3 + i, 0.6) for i in range(4)]
    )
    expected = [np.asarray(g.A) for g in gs]
    io.save(gs[0], path)
    stop, errors, counts = threading.Event(), [], [0] * 5

    def write(i):
        try:
            while not stop.is_set():
                io.save(gs[i], path)
                counts[i] += 1
        except BaseException as err:
            errors.append(f"writer {i}: {err!r}")

    def read():
        while not stop.is_set():
            try:
                A = np.asarray(io.load(path, kind="preference").A)
                if not any(A.shape == E.shape and np.array_equal(A, E) for E in expected):
                    errors.append(f"reader: a game no writer wrote, shape {A.shape}")
            except Exception as err:
                errors.append(f"reader: {err!r}")
            counts[4] += 1

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert min(counts) >= 5, counts
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no stray temporary files


def test_atomic_write_bytes_str_and_function(tmp_path):
    p = tmp_path / "a.bin"
    assert io.atomic_write(p, b"\x00\x01") == p and p.read_bytes() == b"\x00\x01"
    io.atomic_write(p, "é")
    assert p.read_bytes() == b"\xc3\xa9"  # str is written as UTF-8
    io.atomic_write(p, lambda f: np.save(f, np.arange(3)))
    np.testing.assert_array_equal(np.load(p), [0, 1, 2])
    with pytest.raises(TypeError, match="data must be bytes, str or a function"):
        io.atomic_write(p, 123)
    assert sorted(os.listdir(tmp_path)) == ["a.bin"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError, ValueError])
def test_atomic_write_cleans_up_and_keeps_the_old_file(tmp_path, error):
    p = tmp_path / "keep.txt"
    p.write_text("old")

    def half_then_fail(f):
        f.write(b"new, partial")
        raise error("interrupted")

    with pytest.raises(error, match="interrupted"):
        io.atomic_write(p, half_then_fail)
    assert p.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]


def test_atomic_write_gives_the_permissions_of_open(tmp_path):
    (tmp_path / "plain").write_text("x")  # what open() gives under the current umask
    io.atomic_write(tmp_path / "atomic", "x")  # mkstemp alone would give 0600
    assert os.stat(tmp_path / "atomic").st_mode == os.stat(tmp_path / "plain").st_mode


def test_save_into_a_missing_folder_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.save(games.comal_cycle(), tmp_path / "missing" / "g.json")


# --- float32 round trips (item 3) --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".npy", ".csv"])
def test_float32_round_trip_with_x64_off(tmp_path, suffix):
    # before: "P + P^T must equal 1 ... 0.99999997" (P = A + 1/2 was computed in float32)
    with jax.enable_x64(False):
        g = games.comal_cycle()
        assert g.dtype == jnp.float32
        h = io.load(io.save(g, tmp_path / f"c{suffix}"), kind="preference")
        assert h.dtype == jnp.float32 and h.preference
        if suffix == ".npy":  # P stored in float32: one float32 ulp at 1 (2^-24) of rounding
            np.testing.assert_allclose(np.asarray(h.A), np.asarray(g.A), rtol=0, atol=2**-24)
        else:  # P written from float64 with 17 digits: exact
            np.testing.assert_array_equal(np.asarray(h.A), np.asarray(g.A))
        m = games.matrix_game([[0.1, -0.7], [0.3, 0.2]])
        np.testing.assert_array_equal(
            np.asarray(io.load(io.save(m, tmp_path / f"m{suffix}"), "matrix").A), m.A
        )


def test_float32_game_round_trips_with_x64_on_and_records_its_dtype(tmp_path):
    g = games.preference_game(
        np.stack([games.library.COMAL_CYCLE_P, games.library.COMAL_CYCLE_P.T]), [0.3, 0.7], dtype=jnp.float32
    )
    h = io.load(io.save(g, tmp_path / "c.json"))
    assert json.loads((tmp_path / "c.json").read_text())["dtype"] == "float32"
    assert h.dtype == jnp.float32 and h.weights.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(h.A), np.asarray(g.A))
    np.testing.assert_array_equal(np.asarray(h.weights), np.asarray(g.weights))
    io.save(games.comal_cycle(dtype=jnp.float32), tmp_path / "c.npy")
    assert np.load(tmp_path / "c.npy").dtype == np.float32
    assert io.load(tmp_path / "c.npy", "preference").dtype == jnp.float32
    assert io.load(tmp_path / "c.npy", "preference", dtype="float64").dtype == jnp.float64  # explicit wins
    io.save(games.comal_cycle(), tmp_path / "d.json")
    assert json.loads((tmp_path / "d.json").read_text())["dtype"] == "float64"


# --- error paths and schema (item 10) ----------------------------------------------------------------------------


def _json(tmp_path, doc, name="g.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def test_json_unknown_keys_are_named(tmp_path):
    # before: a typo ("weight") was silently ignored and the game got uniform weights
    doc = {"kind": "preference", "matrix": [games.library.COMAL_CYCLE_P.tolist()] * 2, "weight": [0.3, 0.7]}
    with pytest.raises(ValueError, match=r"g.json: unknown key\(s\) 'weight'; allowed: kind, matrix"):
        io.load(_json(tmp_path, doc))


@pytest.mark.parametrize("dtype", ["float16", "int", 32, None])
def test_json_dtype_field_is_checked(tmp_path, dtype):
    doc = {"kind": "matrix", "matrix": [[0, 1], [1, 0]], "dtype": dtype}
    if dtype is None:  # files written before the field existed
        assert io.load(_json(tmp_path, doc)).dtype == jnp.float64
    else:
        with pytest.raises(ValueError, match="'dtype' must be 'float32' or 'float64'"):
            io.load(_json(tmp_path, doc))


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.npy", b"", "empty or truncated .npy"),  # before: a bare EOFError, no path
        (
            "trunc.npy",
            None,
            "not a plain numeric .npy|empty or truncated",
        ),  # the first 20 bytes of a real one
        ("archive.npy", "npz", r"\.npz archive, not an \.npy"),  # before: "got dtype <U1" and a leaked handle
        (
            "latin1.json",
            '{"kind": "matrix", "matrix": [[1, 0], [0, 1]], "x": "é"}'.encode("latin-1"),
            "UTF-8",
        ),
        ("latin1.csv", "0.5,é\n".encode("latin-1"), "UTF-8"),
        ("text.npy", b"hello, this is not numpy", "not a plain numeric .npy"),
        ("empty.json", b"", "invalid JSON"),
        ("list.json", b"[1, 2]", "expected an object"),
    ],
)
def test_bad_files_raise_value_error_naming_the_path(tmp_path, name, content, match):
    p = tmp_path / name
    if content == "npz":
        np.savez(tmp_path / "a.npz", P=np.full((2, 2), 0.5))
        os.replace(tmp_path / "a.npz", p)
    elif content is None:
        np.save(p, np.full((2, 2), 0.5))
        p.write_bytes(p.read_bytes()[:20])
    else:
        p.write_bytes(content)
    before = _open_fds() if os.path.isdir("/proc/self/fd") else None
    with pytest.raises(ValueError, match=match) as info:
        io.load(p, kind="preference" if p.suffix != ".json" else None)
    assert str(p) in str(info.value)
    if before is not None:
        assert _open_fds() == before  # every handle closed


def test_constructor_errors_from_a_file_name_the_file(tmp_path):
    np.save(tmp_path / "bad.npy", np.full((2, 2), 0.9))
    with pytest.raises(ValueError, match=r"bad.npy: the diagonal of P must be 1/2"):
        io.load(tmp_path / "bad.npy", kind="preference")
    p = _json(tmp_path, {"kind": "matrix", "matrix": "abc"})
    with pytest.raises(TypeError, match=r"g.json: A must be a numeric array"):
        io.load(p)
