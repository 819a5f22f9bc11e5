"""Starting a second stack while one runs says so instead of failing on a port."""

from __future__ import annotations

from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

from deploy.local.emulator import free_port
from deploy.local.stack import StackAlreadyRunning, StackConfig, read_info, running_stack
from tests.support.stack import RunningStack

pytestmark = pytest.mark.stack


def _try_start(config: StackConfig) -> None:
    with start_blocking_portal("asyncio") as portal:
        cm = portal.wrap_async_context_manager(running_stack(config))
        cm.__enter__()
        cm.__exit__(None, None, None)


def test_a_second_stack_in_the_same_state_dir_is_refused_with_where_the_first_runs(
    embedded_stack: RunningStack,
) -> None:
    first = embedded_stack.stack.config
    info = read_info(Path(first.state_dir))
    assert info is not None and info.api_url == embedded_stack.api_url
    with pytest.raises(StackAlreadyRunning, match=f"already running.*{embedded_stack.api_url}"):
        _try_start(StackConfig(emulator_port=free_port(), api_port=free_port(), state_dir=first.state_dir))


def test_a_second_stack_on_a_busy_port_is_refused_before_anything_starts(
    embedded_stack: RunningStack,
    tmp_path: Path,
) -> None:
    busy = embedded_stack.stack.config.emulator_port
    with pytest.raises(StackAlreadyRunning, match=f"port {busy}"):
        _try_start(StackConfig(emulator_port=busy, api_port=free_port(), state_dir=str(tmp_path)))


def test_the_emulator_outlives_the_worker_threads_of_the_stack(embedded_stack: RunningStack) -> None:
    """The emulator child gets SIGTERM when the thread that spawned it exits; idle worker threads exit
    after a while, so the stack must spawn it from its event loop's own thread."""
    import threading

    spawned_on = []
    from deploy.local.emulator import Emulator

    original = Emulator.spawn

    def spy(self: Emulator) -> None:
        spawned_on.append(threading.current_thread().name)
        original(self)

    Emulator.spawn = spy  # type: ignore[method-assign]
    try:
        with start_blocking_portal("asyncio") as portal:
            config = StackConfig(
                emulator_port=free_port(),
                api_port=free_port(),
                state_dir=str(Path(embedded_stack.stack.config.state_dir).parent / "threads"),
                run_api=False,
                services=(),
            )
            cm = portal.wrap_async_context_manager(running_stack(config))
            cm.__enter__()
            loop_thread = portal.call(lambda: threading.current_thread().name)
            cm.__exit__(None, None, None)
    finally:
        Emulator.spawn = original  # type: ignore[method-assign]
    assert spawned_on == [loop_thread]
