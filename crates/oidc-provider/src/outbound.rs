//! The one guarded HTTP client for every request Segl itself makes to an address a client
//! registered (back-channel logout delivery, the `sector_identifier_uri` document).
//!
//! Server-side request forgery guard: https only (plain http only to a loopback host), no
//! credentials in the URL, no proxy, no redirects, tight timeouts, bounded response bodies.
//! Every host name is resolved by `GuardedResolver`, which checks every address it gets before
//! the connection is made to one of exactly those addresses, so a name cannot be rebound to an
//! internal address between the check and the connection. A literal IP address in the URL
//! never reaches a resolver, so `Outbound::target` checks it first. Refused: private (RFC
//! 1918), link-local (and the cloud metadata address), unique-local, multicast, unspecified,
//! broadcast, shared (100.64/10), documentation and other reserved addresses; loopback only in
//! development (an issuer on plain-http loopback, the same switch as non-`Secure` cookies).
//! Host names an operator lists in `internal_hosts` may resolve to private, unique-local or
//! shared addresses (relying parties on an internal network), never to the others.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Connection set-up, and the whole exchange.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an address is not a public unicast address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Loopback,
    /// RFC 1918 (and IPv6's deprecated site-local fec0::/10).
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// 169.254.169.254, fd00:ec2::254: where cloud instances fetch their credentials.
    Metadata,
    /// fc00::/7.
    UniqueLocal,
    Multicast,
    /// 0.0.0.0/8, `::`.
    Unspecified,
    Broadcast,
    /// 100.64.0.0/10 (carrier-grade NAT).
    Shared,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32.
    Documentation,
    /// Other special-purpose ranges (192.0.0/24, 198.18/15, 240/4, ...).
    Reserved,
}

impl AddressKind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "a loopback address",
            Self::Private => "a private address (RFC 1918)",
            Self::LinkLocal => "a link-local address",
            Self::Metadata => "the cloud metadata address",
            Self::UniqueLocal => "a unique-local address",
            Self::Multicast => "a multicast address",
            Self::Unspecified => "the unspecified address",
            Self::Broadcast => "the broadcast address",
            Self::Shared => "a shared address (100.64.0.0/10)",
            Self::Documentation => "a documentation address",
            Self::Reserved => "a reserved address",
        }
    }

    /// Addresses of an internal network: allowed for host names listed in `internal_hosts`.
    fn is_internal_network(self) -> bool {
        matches!(self, Self::Private | Self::UniqueLocal | Self::Shared)
    }
}

/// None for a public unicast address; otherwise what it is.
pub fn classify(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    let [a, b, c, _] = ip.octets();
    let kind = if ip == Ipv4Addr::new(169, 254, 169, 254) {
        AddressKind::Metadata
    } else if ip.is_broadcast() {
        AddressKind::Broadcast
    } else if a == 0 {
        AddressKind::Unspecified
    } else if a == 127 {
        AddressKind::Loopback
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) {
        AddressKind::Private
    } else if a == 169 && b == 254 {
        AddressKind::LinkLocal
    } else if a == 100 && (64..128).contains(&b) {
        AddressKind::Shared
    } else if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
    {
        AddressKind::Documentation
    } else if (224..240).contains(&a) {
        AddressKind::Multicast
    } else if a >= 240 || (a, b, c) == (192, 0, 0) || (a == 198 && (b == 18 || b == 19)) {
        AddressKind::Reserved
    } else {
        return None;
    };
    Some(kind)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    // IPv4-mapped (::ffff:a.b.c.d) and the NAT64 prefix (64:ff9b::/96) reach an IPv4 host.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return classify_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    let first = segments[0];
    let kind = if ip.is_unspecified() {
        AddressKind::Unspecified
    } else if ip.is_loopback() {
        AddressKind::Loopback
    } else if segments[..6] == [0; 6] {
        // Deprecated IPv4-compatible addresses (::a.b.c.d).
        return classify_v4(Ipv4Addr::from(u128::from(ip) as u32)).or(Some(AddressKind::Reserved));
    } else if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        AddressKind::Metadata
    } else if first & 0xff00 == 0xff00 {
        AddressKind::Multicast
    } else if first & 0xffc0 == 0xfe80 {
        AddressKind::LinkLocal
    } else if first & 0xffc0 == 0xfec0 {
        AddressKind::Private
    } else if first & 0xfe00 == 0xfc00 {
        AddressKind::UniqueLocal
    } else if first == 0x2001 && segments[1] == 0x0db8 {
        AddressKind::Documentation
    } else {
        return None;
    };
    Some(kind)
}

/// The loopback host rule shared with redirect URIs: `localhost`, 127.0.0.0/8 and `[::1]`.
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Where outbound requests may go, from configuration.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Development only (an issuer on plain-http loopback): loopback addresses are allowed.
    pub allow_loopback: bool,
    /// Host names (lower case) that may resolve to private, unique-local or shared addresses.
    pub internal_hosts: Vec<String>,
}

impl OutboundPolicy {
    /// Why `ip`, reached for `host`, is refused; None if it is allowed.
    pub fn refusal(&self, host: &str, ip: IpAddr) -> Option<AddressKind> {
        let kind = classify(ip)?;
        let allowed = match kind {
            AddressKind::Loopback => self.allow_loopback,
            kind if kind.is_internal_network() => {
                let host = host.trim_end_matches('.');
                self.internal_hosts
                    .iter()
                    .any(|internal| internal.eq_ignore_ascii_case(host))
            }
            _ => false,
        };
        (!allowed).then_some(kind)
    }
}

/// Why an outbound request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL or an address it leads to is not allowed; nothing was sent.
    #[error("{0}")]
    Refused(String),
    #[error("timed out")]
    Timeout,
    #[error("unreachable")]
    Unreachable,
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("cannot build the HTTP client")]
    Build,
}

/// The resolver's refusal, found again in reqwest's error chain.
#[derive(Debug)]
struct Blocked {
    /// The host name resolved; None for a literal address.
    host: Option<String>,
    ip: IpAddr,
    kind: AddressKind,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            Some(host) => write!(
                f,
                "{host} resolves to {}, {}",
                self.ip,
                self.kind.describe()
            ),
            None => write!(f, "the address {} is {}", self.ip, self.kind.describe()),
        }
    }
}

impl std::error::Error for Blocked {}

/// Resolves with the system resolver, then refuses the name if any address is refused, so
/// the connection can only go to checked addresses.
struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &addresses {
                if let Some(kind) = policy.refusal(&host, address.ip()) {
                    return Err(Box::new(Blocked {
                        host: Some(host),
                        ip: address.ip(),
                        kind,
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The guarded client. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Outbound {
    pub fn new(policy: OutboundPolicy) -> Result<Self, OutboundError> {
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            // A proxy would resolve and connect on its own, past the guard.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .build()
            .map_err(|_| OutboundError::Build)?;
        Ok(Self { http, policy })
    }

    /// POSTs a form; only the status is returned (the body is not read).
    pub async fn post_form(
        &self,
        uri: &str,
        form: &[(&str, &str)],
    ) -> Result<reqwest::StatusCode, OutboundError> {
        let url = self.target(uri)?;
        let response = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(map_error)?;
        Ok(response.status())
    }

    /// GETs a document of at most `limit` bytes, read in chunks and abandoned past the limit.
    pub async fn get(
        &self,
        uri: &str,
        limit: usize,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), OutboundError> {
        let url = self.target(uri)?;
        let mut response = self.http.get(url).send().await.map_err(map_error)?;
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(OutboundError::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if body.len() + chunk.len() > limit {
                return Err(OutboundError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((response.status(), body))
    }

    /// The URL's shape, and a literal IP host (which no resolver sees).
    fn target(&self, uri: &str) -> Result<url::Url, OutboundError> {
        let refused = |why: &str| OutboundError::Refused(why.to_owned());
        let url = url::Url::parse(uri).map_err(|_| refused("not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if url.host().is_some_and(|host| is_loopback_host(&host)) => {}
            _ => return Err(refused("only https (http only to a loopback host)")),
        }
        let host = url.host().ok_or_else(|| refused("a URL without a host"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("a URL with a user name or password"));
        }
        let ip = match host {
            url::Host::Domain(_) => return Ok(url),
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
        };
        if let Some(kind) = self.policy.refusal(&ip.to_string(), ip) {
            return Err(OutboundError::Refused(
                Blocked {
                    host: None,
                    ip,
                    kind,
                }
                .to_string(),
            ));
        }
        Ok(url)
    }
}

fn map_error(error: reqwest::Error) -> OutboundError {
    if error.is_timeout() {
        return OutboundError::Timeout;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = cause {
        if let Some(blocked) = current.downcast_ref::<Blocked>() {
            return OutboundError::Refused(blocked.to_string());
        }
        cause = current.source();
    }
    OutboundError::Unreachable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(address: &str) -> Option<AddressKind> {
        classify(address.parse().expect("an IP address"))
    }

    #[test]
    fn internal_ipv4_addresses_are_classified() {
        assert_eq!(kind("169.254.169.254"), Some(AddressKind::Metadata));
        assert_eq!(kind("169.254.1.1"), Some(AddressKind::LinkLocal));
        assert_eq!(kind("10.0.0.5"), Some(AddressKind::Private));
        assert_eq!(kind("172.16.0.1"), Some(AddressKind::Private));
        assert_eq!(kind("172.31.255.255"), Some(AddressKind::Private));
        assert_eq!(kind("192.168.1.1"), Some(AddressKind::Private));
        assert_eq!(kind("127.0.0.1"), Some(AddressKind::Loopback));
        assert_eq!(kind("127.8.9.10"), Some(AddressKind::Loopback));
        assert_eq!(kind("0.0.0.0"), Some(AddressKind::Unspecified));
        assert_eq!(kind("255.255.255.255"), Some(AddressKind::Broadcast));
        assert_eq!(kind("224.0.0.1"), Some(AddressKind::Multicast));
        assert_eq!(kind("100.64.0.1"), Some(AddressKind::Shared));
        assert_eq!(kind("100.127.255.255"), Some(AddressKind::Shared));
        assert_eq!(kind("192.0.2.1"), Some(AddressKind::Documentation));
        assert_eq!(kind("203.0.113.9"), Some(AddressKind::Documentation));
        assert_eq!(kind("240.0.0.1"), Some(AddressKind::Reserved));
        assert_eq!(kind("198.18.0.1"), Some(AddressKind::Reserved));
    }

    #[test]
    fn public_addresses_are_not_classified() {
        for public in [
            "93.184.216.34",
            "172.32.0.1",
            "172.15.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2a00:1450:4001::1",
        ] {
            assert_eq!(kind(public), None, "{public}");
        }
    }

    #[test]
    fn internal_ipv6_addresses_are_classified() {
        assert_eq!(kind("::1"), Some(AddressKind::Loopback));
        assert_eq!(kind("::"), Some(AddressKind::Unspecified));
        assert_eq!(kind("fe80::1"), Some(AddressKind::LinkLocal));
        assert_eq!(kind("fc00::1"), Some(AddressKind::UniqueLocal));
        assert_eq!(kind("fd12:3456::1"), Some(AddressKind::UniqueLocal));
        assert_eq!(kind("fd00:ec2::254"), Some(AddressKind::Metadata));
        assert_eq!(kind("ff02::1"), Some(AddressKind::Multicast));
        assert_eq!(kind("2001:db8::1"), Some(AddressKind::Documentation));
        // IPv4 hosts behind IPv6 notations are classified as the IPv4 address.
        assert_eq!(kind("::ffff:169.254.169.254"), Some(AddressKind::Metadata));
        assert_eq!(kind("::ffff:10.0.0.1"), Some(AddressKind::Private));
        assert_eq!(kind("64:ff9b::a00:5"), Some(AddressKind::Private));
        assert_eq!(kind("::127.0.0.1"), Some(AddressKind::Loopback));
    }

    #[test]
    fn loopback_only_in_development_and_internal_networks_only_for_listed_hosts() {
        let production = OutboundPolicy {
            allow_loopback: false,
            internal_hosts: vec!["rp.internal".into()],
        };
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        let private: IpAddr = "10.1.2.3".parse().expect("ip");
        let metadata: IpAddr = "169.254.169.254".parse().expect("ip");
        assert_eq!(
            production.refusal("localhost", loopback),
            Some(AddressKind::Loopback)
        );
        assert_eq!(production.refusal("RP.internal.", private), None);
        assert_eq!(
            production.refusal("other.internal", private),
            Some(AddressKind::Private)
        );
        assert_eq!(
            production.refusal("rp.internal", metadata),
            Some(AddressKind::Metadata)
        );
        let development = OutboundPolicy {
            allow_loopback: true,
            ..OutboundPolicy::default()
        };
        assert_eq!(development.refusal("localhost", loopback), None);
        assert_eq!(
            development.refusal("x", private),
            Some(AddressKind::Private)
        );
    }

    #[tokio::test]
    async fn urls_are_checked_before_anything_is_sent() {
        let outbound = Outbound::new(OutboundPolicy::default()).expect("client");
        for (uri, why) in [
            (
                "http://rp.example/logout",
                "only https (http only to a loopback host)",
            ),
            (
                "file:///etc/passwd",
                "only https (http only to a loopback host)",
            ),
            (
                "https://user:pw@rp.example/",
                "a URL with a user name or password",
            ),
            (
                "https://169.254.169.254/latest/meta-data",
                "the address 169.254.169.254 is the cloud metadata address",
            ),
            (
                "https://[fe80::1]/",
                "the address fe80::1 is a link-local address",
            ),
            (
                "http://127.0.0.1:9/",
                "the address 127.0.0.1 is a loopback address",
            ),
        ] {
            match outbound.post_form(uri, &[]).await {
                Err(OutboundError::Refused(reason)) => assert_eq!(reason, why, "{uri}"),
                other => panic!("{uri}: {other:?}"),
            }
        }
    }
}
