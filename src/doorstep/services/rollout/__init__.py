"""Model versions after the first: registered, replayed through stored decisions
(:mod:`.backtest`), tried in shadow or canary, compared with the champion on live outcomes
(:mod:`.compare`), promoted with four eyes, rolled back, and switched in serving without a
restart (:mod:`.serving`). Shadow decisions are stored by :mod:`doorstep.store.shadow`."""
