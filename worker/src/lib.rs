//! ODCS workers: generate composes and run the beat job. Filled by the worker issues.
