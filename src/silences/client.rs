//! The `silence` command's client of the Alertmanager v2 API subset (README, Silences).
