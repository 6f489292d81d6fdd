//! User networks as engine calls: `network create` and `network rm` go through here rather
//! than straight to berth-net, so that every front end (CLI, API) records their events.

use berth_net::{NetworkInfo, NetworkSpec};

use crate::events::Action;
use crate::{Engine, EngineError};


impl Engine {
    /// `network create`.
    pub fn create_network(&mut self, spec: &NetworkSpec) -> Result<NetworkInfo, EngineError> {
        let info = self.network()?.create_network(spec).map_err(EngineError::Net)?;
        self.emit_network_id(Action::Create, &info.id, &info.name, None);
        Ok(info)
    }

    /// `network rm NAME`.
    pub fn remove_network(&mut self, name: &str) -> Result<(), EngineError> {
        let id = self.network()?.network(name).map(|n| n.id).ok();
        self.network()?.remove_network(name).map_err(EngineError::Net)?;
        self.emit_network_id(Action::Destroy, id.as_deref().unwrap_or(name), name, None);
        Ok(())
    }
}
