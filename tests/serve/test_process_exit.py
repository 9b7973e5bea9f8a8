"""A forward pass that never returns does not hold the process's exit.

A model whose forward pass blocks for good is nothing a user can register, so this runs the
batcher's own API in a real Python process with a real blocking callable (a thread waiting on an
event nobody sets): the request times out, the stop is given up on, and the process must still
exit. The batcher's forward passes used to run on a ``ThreadPoolExecutor``, whose threads Python
joins at exit: the process hung there for good.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

_STUCK = textwrap.dedent(
    """
    import asyncio, threading
    import numpy as np
    from keel.serve._batcher import Batcher, BatchSettings, RequestTimeout

    never = threading.Event()

    def forward(x):
        never.wait()  # a forward pass that never returns
        return x

    async def main():
        batcher = Batcher(forward, BatchSettings(timeout_s=0.5))
        await batcher.start()
        try:
            await batcher.submit(np.zeros((1, 3)))
        except RequestTimeout:
            print("timed out", flush=True)
        try:
            await asyncio.wait_for(batcher.stop(), 0.5)  # what the server's stop step does
        except TimeoutError:
            print("stop given up", flush=True)

    asyncio.run(main())
    print("main done", flush=True)
    """
)


def test_a_forward_pass_that_never_returns_does_not_hold_the_exit():
    process = subprocess.Popen(
        [sys.executable, "-c", _STUCK], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        message = f"the process did not exit (a batcher thread held it):\n{out}"
        raise AssertionError(message) from None
    assert process.returncode == 0, out
    assert out.split() == ["timed", "out", "stop", "given", "up", "main", "done"], out
