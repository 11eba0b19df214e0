//! SSRF protection for webhooks: a target must resolve to public addresses
//! unless an allow-list (`webhooks.allowed_cidrs`) admits it.
//!
//! The HTTP client resolves through [`GuardedResolver`], so the addresses it
//! connects to are exactly the ones checked (no DNS rebinding between check
//! and connect). IP-literal URLs never reach a resolver, so [`Guard::check`]
//! checks them up front.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, LazyLock};

use ipnet::{IpNet, Ipv6Net};
use url::{Host, Url};

/// IPv6 ranges that are not globally reachable unicast, after IANA's IPv6
/// Special-Purpose Address Registry (and multicast); IPv4-mapped addresses
/// are judged as IPv4.
const NON_PUBLIC_V6: [&str; 13] = [
    "::/128",         // unspecified
    "::1/128",        // loopback
    "64:ff9b::/96",   // NAT64, embeds an IPv4 address
    "64:ff9b:1::/48", // local-use NAT64
    "100::/64",       // discard-only
    "2001::/23",      // IETF protocol assignments (Teredo, benchmarking, ORCHID, …)
    "2001:db8::/32",  // documentation
    "2002::/16",      // 6to4, embeds an IPv4 address
    "3fff::/20",      // documentation
    "5f00::/16",      // segment routing SIDs
    "fc00::/7",       // unique local
    "fe80::/10",      // link-local
    "ff00::/8",       // multicast
];

static NON_PUBLIC_V6_NETS: LazyLock<Vec<Ipv6Net>> = LazyLock::new(|| {
    NON_PUBLIC_V6
        .iter()
        .filter_map(|net| net.parse().ok())
        .collect()
});

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => !NON_PUBLIC_V6_NETS.iter().any(|net| net.contains(&v6)),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Decides which addresses a webhook may reach.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    allowed: Vec<IpNet>,
}

impl Guard {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Guard { allowed }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Resolves `host` and keeps the permitted addresses; an error names the
    /// refused ones, or says the name did not resolve.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Blocked> {
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Blocked::Unresolved(format!("cannot resolve `{host}`: {e}")))?
            .collect();
        let (permitted, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
            resolved.into_iter().partition(|a| self.permits(a.ip()));
        if permitted.is_empty() {
            let ips: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
            return Err(Blocked::Refused(refusal(host, &ips.join(", "))));
        }
        Ok(permitted)
    }

    /// Checks a webhook URL before sending: IP literals here, names by resolving.
    pub async fn check(&self, url: &Url) -> Result<(), Blocked> {
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check_ip(url, IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(url, IpAddr::V6(ip)),
            Some(Host::Domain(name)) => self.resolve(name, port).await.map(|_| ()),
            None => Err(Blocked::Refused("the webhook URL has no host".into())),
        }
    }

    fn check_ip(&self, url: &Url, ip: IpAddr) -> Result<(), Blocked> {
        if self.permits(ip) {
            Ok(())
        } else {
            let host = url.host_str().unwrap_or_default();
            Err(Blocked::Refused(refusal(host, &ip.to_string())))
        }
    }
}

/// Why a webhook target cannot be used now.
#[derive(Debug, PartialEq, Eq)]
pub enum Blocked {
    /// Non-public and not allow-listed: never sent, the delivery fails.
    Refused(String),
    /// The name does not resolve (yet): worth retrying.
    Unresolved(String),
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocked::Refused(s) | Blocked::Unresolved(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Blocked {}

fn refusal(host: &str, ips: &str) -> String {
    format!(
        "refused: `{host}` resolves to a non-public address ({ips}); \
         allow it with BV__WEBHOOKS__ALLOWED_CIDRS if it is trusted"
    )
}

/// reqwest's resolver, filtered by the guard.
pub struct GuardedResolver(pub Arc<Guard>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let addrs = guard
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "2001::1",
            "2001:1ff:ffff::1",
            "64:ff9b:1::1",
            "3fff::1",
            "5f00::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        // Just outside the special ranges: public.
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "100:0:0:1::1",
            "2001:200::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(!is_public(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)));
    }

    #[tokio::test]
    async fn literals_and_localhost_are_refused_unless_allowed() {
        let strict = Guard::default();
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]/x",
            "http://10.0.0.1/x",
            "http://localhost:9/x",
        ] {
            let err = strict.check(&Url::parse(url).unwrap()).await.unwrap_err();
            assert!(
                matches!(&err, Blocked::Refused(r) if r.contains("non-public")),
                "{url}: {err}"
            );
        }
        let allowed = Guard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(
            allowed
                .check(&Url::parse("http://127.0.0.1:9/x").unwrap())
                .await
                .is_ok()
        );
        assert!(
            allowed
                .check(&Url::parse("http://10.0.0.1/x").unwrap())
                .await
                .is_err()
        );
    }
}
