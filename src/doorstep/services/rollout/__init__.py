"""Rolling out the next model version: replay stored decisions through a candidate
(:mod:`.backtest`), and compare champion and challenger on live outcomes (:mod:`.compare`).
Shadow decisions are stored by :mod:`doorstep.store.shadow`."""
