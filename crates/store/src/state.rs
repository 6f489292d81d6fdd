//! A container's lifecycle state, as docker names it in `State.Status`.

use std::fmt;
use std::str::FromStr;

/// Where a container is in its life. Stored as docker's lowercase word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContainerState {
    /// Made but never started (or reset by a failed start).
    #[default]
    Created,
    Running,
    Paused,
    /// Exited and waiting for its restart policy's next attempt.
    Restarting,
    /// `rm -f` is tearing it down.
    Removing,
    Exited,
    /// Its monitor vanished without recording an exit.
    Dead,
}

impl ContainerState {
    pub const ALL: [ContainerState; 7] = [
        Self::Created,
        Self::Running,
        Self::Paused,
        Self::Restarting,
        Self::Removing,
        Self::Exited,
        Self::Dead,
    ];

    /// Docker's word: `State.Status`, the `status=` filter, the events' actions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }

    /// A process of the container may be alive: running, paused or between restarts.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Restarting)
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not one of docker's container states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid container state {0:?}: expected one of created, running, paused, restarting, removing, exited, dead")]
pub struct UnknownState(pub String);

impl FromStr for ContainerState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

impl rusqlite::ToSql for ContainerState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for ContainerState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl serde::Serialize for ContainerState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ContainerState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        word.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_word() {
        for st in ContainerState::ALL {
            assert_eq!(st.as_str().parse::<ContainerState>(), Ok(st));
        }
        assert!("up".parse::<ContainerState>().is_err());
    }
}
