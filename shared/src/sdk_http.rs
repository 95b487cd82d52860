//! The HTTP client every AWS SDK client uses: hyper over rustls with the process's one TLS
//! configuration ([`crate::tls`]) and one connection pool shared by all SDK clients.
//!
//! The SDK's default HTTPS client loads the platform's certificate store and builds a TLS
//! configuration again for each client when it is created, so every client cost its function
//! a share of cold start for nothing (docs/benchmarks.md). This one costs nothing to create.
//! What it keeps of the SDK's contract: the connect and read timeouts of the operation's
//! settings, and errors classified the way the SDK's retry strategy expects (I/O and timeouts
//! are transient and retried; a request that could not be built is the caller's).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

type BoxError = Box<dyn StdError + Send + Sync>;
type Pool = Client<HttpsConnector<TcpConnector>, SdkBody>;

/// Idle pooled connections are closed after this long (AWS endpoints close theirs after about
/// a minute; reusing one they closed would cost a failed attempt).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// The SDK's HTTP client: cheap to create; the pools are built on the first request.
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(SdkHttpClient::default())
}

/// One pool per connect timeout (the only setting baked into a connection); every SDK client
/// built from the same configuration shares them.
#[derive(Debug, Default)]
struct SdkHttpClient {
    pools: Mutex<HashMap<Option<Duration>, Pool>>,
}

impl SdkHttpClient {
    fn pool(&self, connect_timeout: Option<Duration>) -> Pool {
        // A poisoned lock only means another thread panicked while inserting; the map is
        // still a valid cache.
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .entry(connect_timeout)
            .or_insert_with(|| new_pool(connect_timeout))
            .clone()
    }
}

fn new_pool(connect_timeout: Option<Duration>) -> Pool {
    let mut tcp = TcpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(connect_timeout);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*crate::tls::client_config()).clone())
        // The emulator is plain HTTP; AWS endpoints are HTTPS.
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(https)
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(SdkConnector {
            pool: self.pool(settings.connect_timeout()),
            read_timeout: settings.read_timeout(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper-rustls", Some("1.x".into())))
    }
}

#[derive(Debug, Clone)]
struct SdkConnector {
    pool: Pool,
    /// Until the response's head arrives; the body is bounded by the operation's timeouts.
    read_timeout: Option<Duration>,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let response = self.pool.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(_) => {
                        return Err(ConnectorError::timeout(
                            format!("no response within the read timeout ({limit:?})").into(),
                        ));
                    }
                },
                None => response.await,
            }
            .map_err(|e| classify(e.into()))?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// How the SDK's retry strategy should treat a failed request: transient failures (the
/// connection could not be made, was reset or closed early, or timed out) are retried; a
/// request hyper refused to send is not.
fn classify(error: BoxError) -> ConnectorError {
    let client_error = find::<hyper_util::client::legacy::Error>(error.as_ref());
    let hyper_error = find::<hyper::Error>(error.as_ref());
    let io_error = find::<std::io::Error>(error.as_ref());
    let timed_out = hyper_error.is_some_and(hyper::Error::is_timeout)
        || io_error.is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
    if timed_out {
        ConnectorError::timeout(error)
    } else if hyper_error.is_some_and(hyper::Error::is_user) {
        ConnectorError::user(error)
    } else if client_error.is_some_and(hyper_util::client::legacy::Error::is_connect)
        || io_error.is_some()
        || hyper_error.is_some_and(|e| e.is_closed() || e.is_canceled())
    {
        ConnectorError::io(error)
    } else if hyper_error.is_some_and(hyper::Error::is_incomplete_message) {
        // The peer closed the connection mid-response: the request may be retried.
        ConnectorError::other(error, Some(ErrorKind::TransientError))
    } else {
        ConnectorError::other(error, None)
    }
}

/// The first error of type `E` in `error`'s chain. An `io::Error`'s next link is its payload
/// (`get_ref`): its `source()` is the payload's source, which would skip the payload itself
/// (a rustls or hyper error wrapped in an `io::Error`).
fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<E>() {
            return Some(found);
        }
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    fn get(url: &str) -> HttpRequest {
        let request = http::Request::builder()
            .uri(url)
            .body(SdkBody::empty())
            .unwrap_or_else(|e| panic!("request: {e}"));
        HttpRequest::try_from(request).unwrap_or_else(|e| panic!("request: {e}"))
    }

    async fn listen() -> (tokio::net::TcpListener, std::net::SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        (listener, addr)
    }

    fn connector(connect: Option<Duration>, read: Option<Duration>) -> SdkConnector {
        SdkConnector {
            pool: new_pool(connect),
            read_timeout: read,
        }
    }

    /// The error a request that must fail ends with; `why` says why it must.
    async fn failure(connector: SdkConnector, url: &str, why: &str) -> ConnectorError {
        connector
            .call(get(url))
            .await
            .err()
            .unwrap_or_else(|| panic!("{why}, yet the request succeeded"))
    }

    #[test]
    fn requests_reuse_one_pooled_connection() {
        runtime().block_on(async {
            use std::sync::atomic::{AtomicUsize, Ordering};
            let (listener, addr) = listen().await;
            let accepted = std::sync::Arc::new(AtomicUsize::new(0));
            let counter = accepted.clone();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let answer = hyper::service::service_fn(|_request| async {
                            Ok::<_, std::convert::Infallible>(http::Response::new(String::from(
                                "{}",
                            )))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(socket), answer)
                            .await;
                    });
                }
            });
            let client = SdkHttpClient::default();
            for _ in 0..3 {
                let connector = SdkConnector {
                    pool: client.pool(Some(Duration::from_secs(1))),
                    read_timeout: Some(Duration::from_secs(5)),
                };
                let response = connector
                    .call(get(&format!("http://{addr}/")))
                    .await
                    .unwrap_or_else(|e| panic!("request: {e:?}"));
                assert_eq!(response.status().as_u16(), 200);
                let body = response.into_body();
                let bytes = http_body_util::BodyExt::collect(body)
                    .await
                    .unwrap_or_else(|e| panic!("body: {e}"))
                    .to_bytes();
                assert_eq!(&bytes[..], b"{}");
            }
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                1,
                "three requests through one client should share one keep-alive connection"
            );
        });
    }

    #[test]
    fn a_refused_connection_is_a_transient_io_error() {
        runtime().block_on(async {
            // Bound, then closed: nothing listens on the port.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("port: {e}"));
            let error = failure(
                connector(Some(Duration::from_secs(1)), None),
                &format!("http://127.0.0.1:{port}/"),
                "nothing listens",
            )
            .await;
            assert!(error.is_io(), "{error:?}");
        });
    }

    #[test]
    fn a_server_that_never_answers_is_a_read_timeout() {
        runtime().block_on(async {
            let (listener, addr) = listen().await;
            // Accepts and holds the connection without a byte of answer.
            let _held = tokio::spawn(async move {
                let held = listener.accept().await;
                std::future::pending::<()>().await;
                drop(held);
            });
            let error = failure(
                connector(None, Some(Duration::from_millis(200))),
                &format!("http://{addr}/"),
                "the server never answered",
            )
            .await;
            assert!(error.is_timeout(), "{error:?}");
        });
    }

    #[test]
    fn a_connection_closed_before_the_answer_is_transient() {
        runtime().block_on(async {
            let (listener, addr) = listen().await;
            tokio::spawn(async move {
                if let Ok((socket, _)) = listener.accept().await {
                    drop(socket);
                }
            });
            let error = failure(
                connector(None, Some(Duration::from_secs(5))),
                &format!("http://{addr}/"),
                "the server closed at once",
            )
            .await;
            assert!(
                error.is_io() || error.as_other() == Some(ErrorKind::TransientError),
                "{error:?}"
            );
        });
    }

    #[test]
    fn https_never_falls_back_to_plain_text() {
        runtime().block_on(async {
            // A TLS client against a plain-text server: the handshake fails, and the request
            // is never sent in the clear.
            let (listener, addr) = listen().await;
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt as _;
                if let Ok((mut socket, _)) = listener.accept().await {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
            let result = connector(Some(Duration::from_secs(1)), Some(Duration::from_secs(5)))
                .call(get(&format!("https://{addr}/")))
                .await;
            assert!(result.is_err(), "an HTTPS request got a plain-text answer");
        });
    }
}
