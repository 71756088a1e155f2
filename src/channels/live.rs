//! The live side of the inbox: prompts fired by the scheduler are published here after their transaction
//! commits, and each open Server-Sent Events stream forwards those addressed to its agent.

use std::sync::Arc;

use tokio::sync::broadcast;

/// A prompt on its way to a connected agent.
#[derive(Clone, Debug)]
pub struct LivePrompt {
    /// The recipient.
    pub agent_id: String,
    /// The prompt as the API renders it.
    pub json: Arc<serde_json::Value>,
}

/// A broadcast channel; slow subscribers lose the oldest live prompts but never the stored ones (the inbox).
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<LivePrompt>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub with room for a burst of prompts per subscriber.
    pub fn new() -> Self {
        Self { sender: broadcast::channel(4096).0 }
    }

    /// Publishes to whoever listens; nobody listening is fine.
    pub fn publish(&self, prompt: LivePrompt) {
        let _ = self.sender.send(prompt);
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<LivePrompt> {
        self.sender.subscribe()
    }
}
