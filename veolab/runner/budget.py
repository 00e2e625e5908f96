"""A spending budget that concurrency cannot overshoot: reserve before a submit, settle after.

>>> b = Budget(limit=2.0)
>>> b.reserve(1.6)
True
>>> b.reserve(1.6)      # would overshoot while the first is in flight
False
>>> b.settle(1.6, billed=1.2); b.spent
1.2
"""

from __future__ import annotations

import threading


class Budget:
    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0
        self.reserved = 0.0
        self._lock = threading.Lock()

    @property
    def committed(self) -> float:
        """Spent plus reserved for submits in flight."""
        with self._lock:
            return round(self.spent + self.reserved, 4)

    def reserve(self, amount: float) -> bool:
        """Hold ``amount`` for a submit; False when it would take spend past the limit."""
        with self._lock:
            if self.limit is not None and self.spent + self.reserved + amount > self.limit + 1e-9:
                return False
            self.reserved += amount
            return True

    def settle(self, reserved: float, billed: float | None) -> None:
        """Release the reservation and count what was billed (else the estimate)."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - reserved)
            self.spent += reserved if billed is None else billed

    def release(self, reserved: float) -> None:
        """Release a reservation for a submit that was never billed."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - reserved)
