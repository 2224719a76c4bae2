//! PEM files of CA certificates (`sslrootcert=` of a database URL,
//! `--vendor-ca-file`): read once, and every certificate in them checked, so
//! that a bad file is refused when the settings are read, not mid-run.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The certificates of a PEM file, each one a trust anchor TLS can use.
#[derive(Debug, Clone)]
pub struct Certificates {
    /// The file's bytes, as read.
    pub pem: Vec<u8>,
    /// Its certificates, in order.
    pub der: Vec<CertificateDer<'static>>,
}

/// A file that can't be used as CA certificates.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct PemError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    #[source]
    pub problem: PemProblem,
}

/// What is wrong with a PEM file.
#[derive(Debug, thiserror::Error)]
pub enum PemProblem {
    /// It can't be read.
    #[error("can't be read")]
    Read(#[source] std::io::Error),
    /// A PEM section is malformed.
    #[error("not PEM")]
    Pem(#[source] rustls_pki_types::pem::Error),
    /// It holds no `CERTIFICATE` section.
    #[error("holds no certificate")]
    Empty,
    /// A certificate does not parse as one.
    #[error("certificate {index} is not a valid CA certificate")]
    Invalid {
        /// Its position in the file, from 1.
        index: usize,
        /// Why.
        #[source]
        source: rustls::Error,
    },
}

/// Reads `path` and checks each certificate as a TLS trust anchor.
pub fn read_certificates(path: &Path) -> Result<Certificates, PemError> {
    let error = |problem| PemError { path: path.to_path_buf(), problem };
    let pem = std::fs::read(path).map_err(|e| error(PemProblem::Read(e)))?;
    let der =
        CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| error(PemProblem::Pem(e)))?;
    if der.is_empty() {
        return Err(error(PemProblem::Empty));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in der.iter().enumerate() {
        roots.add(cert.clone()).map_err(|source| error(PemProblem::Invalid { index: i + 1, source }))?;
    }
    Ok(Certificates { pem, der })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Certificates, PemError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, text).unwrap();
        read_certificates(&path)
    }

    #[test]
    fn a_ca_certificate_is_read() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap();
        let read = read(&cert.pem()).unwrap();
        assert_eq!(read.der.len(), 1);
        assert_eq!(read.pem, cert.pem().into_bytes());
    }

    #[test]
    fn text_without_a_certificate_is_refused() {
        assert!(matches!(read("not a certificate\n").unwrap_err().problem, PemProblem::Empty));
    }

    #[test]
    fn a_certificate_section_that_is_no_certificate_is_refused() {
        let err = read("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap_err();
        assert!(matches!(err.problem, PemProblem::Invalid { index: 1, .. }), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read_certificates(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
