"""Model versions after the first: registered, tried in shadow or canary, promoted with four
eyes, rolled back, and switched in serving without a restart."""
