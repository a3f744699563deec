//! The webhook's serving certificate, so that users need not bring one.
//!
//! By default the replicas share one self-signed certificate kept in a Secret (made by the
//! first replica to start, with `rcgen`), and each writes it as the `caBundle` of Muster's
//! MutatingWebhookConfiguration; the API server then trusts exactly that certificate. With
//! `--webhook-cert-dir`, a certificate mounted from elsewhere (cert-manager) is used instead.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};

/// A PEM certificate chain and its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServingCert {
    /// PEM certificate(s).
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
}

/// Why no certificate could be had.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Generating one failed.
    #[error("cannot generate the webhook certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The API server refused a read or write.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The error.
        source: kube::Error,
    },
    /// A certificate file could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The Secret holds something that is not a certificate and key.
    #[error("Secret {0} has no tls.crt and tls.key")]
    BadSecret(String),
}

/// A new self-signed serving certificate for these DNS names and IP addresses, valid for ten
/// years.
pub fn self_signed(names: &[String]) -> Result<ServingCert, CertError> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "muster-webhook");
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(ServingCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Reads `tls.crt` and `tls.key` from a directory.
pub fn from_dir(dir: &Path) -> Result<ServingCert, CertError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| CertError::File {
            path: path.display().to_string(),
            source,
        })
    };
    Ok(ServingCert {
        cert_pem: read("tls.crt")?,
        key_pem: read("tls.key")?,
    })
}

/// The shared certificate from the Secret `namespace/name`, made and stored first if there is
/// none yet.
pub async fn from_secret(
    client: Client,
    namespace: &str,
    name: &str,
    names: &[String],
) -> Result<ServingCert, CertError> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    let label = format!("{namespace}/{name}");
    let api_err = |what: &str, source| CertError::Api {
        what: format!("{what} Secret {label}"),
        source,
    };
    for _ in 0..3 {
        if let Some(s) = api.get_opt(name).await.map_err(|e| api_err("reading", e))? {
            let data = s.data.unwrap_or_default();
            return match (data.get("tls.crt"), data.get("tls.key")) {
                (Some(c), Some(k)) => Ok(ServingCert {
                    cert_pem: String::from_utf8_lossy(&c.0).into_owned(),
                    key_pem: String::from_utf8_lossy(&k.0).into_owned(),
                }),
                _ => Err(CertError::BadSecret(label)),
            };
        }
        let cert = self_signed(names)?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(BTreeMap::from([
                (
                    "tls.crt".into(),
                    ByteString(cert.cert_pem.clone().into_bytes()),
                ),
                (
                    "tls.key".into(),
                    ByteString(cert.key_pem.clone().into_bytes()),
                ),
            ])),
            ..Secret::default()
        };
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => return Ok(cert),
            // Another replica was first: read what it stored.
            Err(kube::Error::Api(s)) if s.is_already_exists() => continue,
            Err(e) => return Err(api_err("creating", e)),
        }
    }
    Err(CertError::BadSecret(label))
}

/// Writes the certificate as the `caBundle` of every webhook of the configuration `name`
/// (if it exists; returns whether it does).
pub async fn inject_ca_bundle(
    client: Client,
    name: &str,
    cert: &ServingCert,
) -> Result<bool, CertError> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client);
    let api_err = |what: &str, source| CertError::Api {
        what: format!("{what} MutatingWebhookConfiguration {name}"),
        source,
    };
    for _ in 0..5 {
        let Some(mut config) = api.get_opt(name).await.map_err(|e| api_err("reading", e))? else {
            return Ok(false);
        };
        let bundle = ByteString(cert.cert_pem.clone().into_bytes());
        let mut changed = false;
        for w in config.webhooks.iter_mut().flatten() {
            if w.client_config.ca_bundle.as_ref() != Some(&bundle) {
                w.client_config.ca_bundle = Some(bundle.clone());
                changed = true;
            }
        }
        if !changed {
            return Ok(true);
        }
        match api.replace(name, &PostParams::default(), &config).await {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(s)) if s.is_conflict() => continue,
            Err(e) => return Err(api_err("updating", e)),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_loads_into_rustls() {
        let c = self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(c.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        crate::http::tls_config(&c).unwrap();
    }
}
