//! The model check of `logto-m2m`'s blocking manager lives in `tests/model_check.rs`; it only
//! builds with `--cfg logto_m2m_loom` (see the README).
