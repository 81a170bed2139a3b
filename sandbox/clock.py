"""The sandbox's simulated clock.

Every duration the sandbox plays out (a WAV's length, a tone, silence, ``sleep``, the
switch-side timeouts of ``play_and_get_digits`` and ``originate``) goes through
:meth:`Clock.sleep`, which divides it by ``--speed``. Tests and dry runs use a large
speed so a long script runs in milliseconds; wall-clock timestamps in events stay real.
"""

from __future__ import annotations

import asyncio


class Clock:
    """Scales simulated seconds to real seconds."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.speed = float(speed)

    def real(self, seconds: float) -> float:
        """How long ``seconds`` of simulated time lasts on the wall clock."""
        return max(0.0, seconds) / self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.real(seconds))

    async def wait(self, waiter: asyncio.Future | asyncio.Event, seconds: float) -> bool:
        """Wait for ``waiter`` at most ``seconds`` of simulated time; True if it fired."""
        aw = waiter.wait() if isinstance(waiter, asyncio.Event) else asyncio.shield(waiter)
        try:
            async with asyncio.timeout(self.real(seconds)):
                await aw
        except TimeoutError:
            return False
        return True
