"""One loaded model serves many threads at once with the same results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import runtime


def test_many_threads_get_the_same_results(mlp_path):
    model = runtime.load_file(mlp_path)
    rng = np.random.default_rng(0)
    inputs = [
        rng.standard_normal((int(rng.integers(1, 40)), 16)).astype(np.float32) for _ in range(64)
    ]
    expected = [model.predict(x) for x in inputs]

    def work(i: int) -> bool:
        ok = True
        for _ in range(5):
            ok &= bool(np.array_equal(model.predict(inputs[i]), expected[i]))
        return ok

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(len(inputs))))
    assert all(results)


def test_serialised_backends_are_locked(linear_path):
    """A backend that is not thread-safe gets its calls serialised by the Model."""
    import threading
    import time

    from runtime._model import Model

    active, peak, lock = [0], [0], threading.Lock()
    inner = runtime.load_file(linear_path)._backend

    class OneAtATime:
        signature = inner.signature
        thread_safe = False
        providers = ()

        def run(self, names, feeds):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.002)
            out = inner.run(names, feeds)
            with lock:
                active[0] -= 1
            return out

    model = Model(OneAtATime(), runtime.load_file(linear_path).info)
    x = np.ones((2, 4), np.float32)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: model.predict(x), range(30)))
    assert peak[0] == 1
