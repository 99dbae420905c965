//! SKELETON: being written.
