//! Messaging between processes: length-prefixed protobuf frames for the
//! forker link (a Unix socketpair), and a ZMQ request/reply client used by
//! the operator and stager commands.

pub mod admin_client;
pub mod client;
pub mod curve;
pub mod framing;
pub mod refusal;
pub mod stager_client;
