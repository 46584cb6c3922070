//! The power state a device reports in its heartbeat (DESIGN §4).

use crate::names::named_enum;

named_enum! {
    /// What the device was doing, power-wise, when it reported.
    pub enum PowerState as "power state" {
        Sleep => "sleep",
        Awake => "awake",
        Uploading => "uploading",
        Charging => "charging",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_state_names_round_trip() {
        let names: Vec<&str> = PowerState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["sleep", "awake", "uploading", "charging"]);
        for &state in PowerState::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
        }
        assert!("off".parse::<PowerState>().is_err());
    }
}
