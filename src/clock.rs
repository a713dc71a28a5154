//! The one clock of the control plane: the runtime's time in Unix milliseconds. Every
//! decision takes `now` as an argument; only the shell reads the clock, through here.

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}
