//! The Slack and Linear bots as the control plane tells them how a prompt went: the
//! `callbackContext` a bot attaches to its prompt (`context`), and the signed callbacks sent
//! back when the prompt completes or the agent calls a tool (`callback`), written as
//! JavaScript writes JSON (`js_json`) since the bots check the signature over their own
//! re-serialization. Pure; the session's shell (`session::notify`) sends them.

pub mod callback;
pub mod context;
pub mod js_json;
