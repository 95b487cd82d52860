//! Webhooks: a client's HTTPS endpoints, told of its transactions' events.
//!
//! A client registers endpoints and the events each wants ([`Endpoint`]); the secret that
//! signs their deliveries is shown once, at registration or rotation. The table's stream says
//! what changed; [`events_of`] turns each change into events, the fan-out keeps each event in
//! its transaction's delivery log (for a re-delivery) and queues one [`DeliveryMessage`] per
//! endpoint that wants it; the deliverer signs and posts each (Stripe's scheme, in the client
//! crate's `webhook` module), at least once, backing off through the queue, and logs every
//! attempt. Addresses are checked when registered and again, resolved, when sent to
//! ([`AddressPolicy`]): no private, loopback or link-local network is reachable through a
//! webhook.

mod address;
mod delivery;
mod endpoint;
mod event;

pub use address::{AddressPolicy, MAX_URL_LEN, UrlError, check_url};
pub use delivery::{
    Attempt, AttemptOutcome, DeliveryLog, DeliveryMessage, LoggedEvent, MAX_LOGGED_ATTEMPTS,
    MAX_LOGGED_EVENT_BYTES, MAX_LOGGED_EVENTS,
};
pub use endpoint::{
    DEFAULT_ROTATION_OVERLAP, Endpoint, EndpointError, EndpointId, MAX_DESCRIPTION_LEN,
    MAX_ENDPOINTS, MAX_ROTATION_OVERLAP, NewEndpoint, Registry, Secret, SigningSecret,
};
pub use event::{Event, EventKind, MAX_EVENT_BODY, events_of};
