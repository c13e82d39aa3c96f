//! RFC 3161 time stamps over claims: third-party proof that a claim existed at a time.
//!
//! A claim's `created` field is the signer's own statement, so a thief can backdate it (seed
//! 000's ambiguity attack forges evidence after the theft). A time-stamping authority (TSA)
//! signs the claim's SHA-256 with its own clock: [`request`] writes the RFC 3161 query for a
//! claim file (or `openssl ts -query -data CLAIM -sha256 -cert`), the TSA answers with a
//! TimeStampResp (or a bare token), and [`verify`] checks it against the claim's bytes and the
//! TSA certificate the checker trusts:
//! - the token is CMS SignedData whose content is a TSTInfo (id-ct-TSTInfo);
//! - its message imprint is the SHA-256 of exactly these claim bytes;
//! - the signed attributes carry the SHA-256 of that TSTInfo (message-digest) and its type;
//! - the signature over the signed attributes verifies under the given certificate's key
//!   (RSA PKCS#1 v1.5 or ECDSA P-256, both with SHA-256);
//! - the certificate is for time stamping (extended key usage) and valid at the stamped time.
//!
//! Only the time of a token that passes all of these is used. Trust in the TSA itself (whose
//! certificate to accept) is the checker's decision: mown pins the certificate it is given and
//! does not walk certificate chains.

use cms::cert::x509::Certificate;
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfos};
use der::asn1::OctetString;
use der::oid::ObjectIdentifier;
use der::{Decode, DecodePem, Encode};
use sha2::{Digest, Sha256};
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::ClaimError;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// A verified time stamp.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StampedTime {
    /// The TSA's time, RFC 3339 UTC.
    pub time: String,
    /// The same, seconds since the Unix epoch: what priority is decided on.
    pub unix_seconds: u64,
    /// The TSA's serial number of the token, hex.
    pub serial: String,
    /// The TSA's policy OID.
    pub policy: String,
    /// The TSA certificate's subject.
    pub tsa: String,
    /// SHA-256 of the stamped bytes.
    pub data_sha256: String,
}

fn fail(what: impl std::fmt::Display) -> ClaimError {
    ClaimError::TimeStamp(what.to_string())
}

/// The DER RFC 3161 request for `data` (SHA-256 imprint, the TSA's certificate asked for), with
/// `nonce` when given (the TSA must echo it; [`verify`] does not check it).
pub fn request(data: &[u8], nonce: Option<u64>) -> Result<Vec<u8>, ClaimError> {
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: imprint(data)?,
        req_policy: None,
        nonce: nonce.map(|n| der::asn1::Int::new(&minimal_positive(n))).transpose().map_err(fail)?,
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(fail)
}

/// The big-endian bytes of `n` as a DER INTEGER wants them: no leading zero bytes, but one
/// where the top bit would otherwise make the number negative.
fn minimal_positive(n: u64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
    let mut out = bytes[first..].to_vec();
    if out[0] & 0x80 != 0 {
        out.insert(0, 0);
    }
    out
}

fn imprint(data: &[u8]) -> Result<MessageImprint, ClaimError> {
    Ok(MessageImprint {
        hash_algorithm: cms::cert::x509::spki::AlgorithmIdentifier {
            oid: ID_SHA_256,
            parameters: Some(der::Any::null()),
        },
        hashed_message: OctetString::new(Sha256::digest(data).to_vec()).map_err(fail)?,
    })
}

/// The parts of a token's CMS SignedData that verification reads. The certificates and CRLs are
/// skipped unparsed: the TSA certificate is the one the checker gives, and TSAs such as
/// `openssl ts` may list their certificate twice (signer and chain), which a strict SET OF
/// decoder refuses.
struct TokenSignedData {
    encap: EncapsulatedContentInfo,
    signers: SignerInfos,
}

impl der::FixedTag for TokenSignedData {
    const TAG: der::Tag = der::Tag::Sequence;
}

impl<'a> der::DecodeValue<'a> for TokenSignedData {
    fn decode_value<R: der::Reader<'a>>(reader: &mut R, header: der::Header) -> der::Result<Self> {
        use der::Reader as _;
        reader.read_nested(header.length, |r| {
            let _version: der::Any = r.decode()?;
            let _digest_algorithms: der::Any = r.decode()?;
            let encap: EncapsulatedContentInfo = r.decode()?;
            // [0] certificates and [1] crls, both optional.
            while r.peek_tag()?.is_context_specific() {
                let _skipped: der::Any = r.decode()?;
            }
            Ok(TokenSignedData { encap, signers: r.decode()? })
        })
    }
}

/// Reads a certificate in PEM or DER.
pub fn read_certificate(bytes: &[u8]) -> Result<Certificate, ClaimError> {
    let text = std::str::from_utf8(bytes).ok().filter(|t| t.contains("-----BEGIN"));
    match text {
        Some(pem) => Certificate::from_pem(pem.trim_start()),
        None => Certificate::from_der(bytes),
    }
    .map_err(|e| fail(format!("the TSA certificate is not a PEM or DER X.509 certificate: {e}")))
}

/// Verifies a TimeStampResp or a bare token (`stamp`) over `data` against the trusted TSA
/// certificate `tsa_cert` (PEM or DER). See the module comment for every check.
pub fn verify(stamp: &[u8], data: &[u8], tsa_cert: &[u8]) -> Result<StampedTime, ClaimError> {
    let cert = read_certificate(tsa_cert)?;
    let token = match TimeStampResp::from_der(stamp) {
        Ok(resp) => {
            let status = format!("{:?}", resp.status.status);
            if !matches!(status.as_str(), "Accepted" | "GrantedWithMods") {
                return Err(fail(format!("the TSA refused the request (status {status})")));
            }
            resp.time_stamp_token.ok_or_else(|| fail("the response holds no token"))?
        }
        Err(_) => ContentInfo::from_der(stamp)
            .map_err(|e| fail(format!("neither an RFC 3161 response nor a time-stamp token: {e}")))?,
    };
    if token.content_type != ID_SIGNED_DATA {
        return Err(fail(format!("the token is {} content, not signed data", token.content_type)));
    }
    let signed = TokenSignedData::from_der(&token.content.to_der().map_err(fail)?)
        .map_err(|e| fail(format!("the token's signed data does not parse: {e}")))?;
    if signed.encap.econtent_type != ID_CT_TST_INFO {
        return Err(fail("the signed content is not a TSTInfo"));
    }
    let econtent = signed.encap.econtent.as_ref().ok_or_else(|| fail("the token has no TSTInfo"))?;
    let tst_der = econtent.value();
    let tst = TstInfo::from_der(tst_der).map_err(|e| fail(format!("the TSTInfo does not parse: {e}")))?;
    // 1. It stamps these bytes.
    if tst.message_imprint.hash_algorithm.oid != ID_SHA_256 {
        return Err(fail(format!(
            "the imprint uses {}; mown checks SHA-256 imprints",
            tst.message_imprint.hash_algorithm.oid
        )));
    }
    let digest = Sha256::digest(data);
    if tst.message_imprint.hashed_message.as_bytes() != digest.as_slice() {
        return Err(fail("the token stamps other bytes (its imprint is not this file's SHA-256)"));
    }
    // 2. Exactly one signer, whose signed attributes bind the TSTInfo.
    let signers = signed.signers.0.as_slice();
    let [signer] = signers else {
        return Err(fail(format!("the token has {} signers; RFC 3161 allows one", signers.len())));
    };
    if signer.digest_alg.oid != ID_SHA_256 {
        return Err(fail(format!("the signer digest is {}; mown checks SHA-256", signer.digest_alg.oid)));
    }
    let attrs = signer.signed_attrs.as_ref().ok_or_else(|| fail("the token has no signed attributes"))?;
    let attr = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
            .ok_or_else(|| fail(format!("signed attribute {oid} is missing")))
    };
    if attr(ID_MESSAGE_DIGEST)?.value() != Sha256::digest(tst_der).as_slice() {
        return Err(fail("the signed message digest is not the TSTInfo's: the token was altered"));
    }
    if attr(ID_CONTENT_TYPE)?.decode_as::<ObjectIdentifier>().map_err(fail)? != ID_CT_TST_INFO {
        return Err(fail("the signed content type is not TSTInfo"));
    }
    // 3. The trusted certificate signed them.
    let tbs = &cert.tbs_certificate;
    if let SignerIdentifier::IssuerAndSerialNumber(id) = &signer.sid
        && (id.issuer != tbs.issuer || id.serial_number != tbs.serial_number)
    {
        return Err(fail(format!(
            "the token was signed by certificate {} of {}, not by the given TSA certificate ({})",
            hex::encode(id.serial_number.as_bytes()),
            id.issuer,
            tbs.subject
        )));
    }
    let signed_bytes = attrs.to_der().map_err(fail)?;
    check_signature(&cert, signer.signature_algorithm.oid, &signed_bytes, signer.signature.as_bytes())?;
    // 4. The certificate is a time-stamping one, valid at the stamped time.
    let time_stamping = tbs.extensions.iter().flatten().filter(|e| e.extn_id == ID_EXT_KEY_USAGE).any(|e| {
        cms::cert::x509::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
            .map(|eku| eku.0.contains(&ID_KP_TIME_STAMPING))
            .unwrap_or(false)
    });
    if !time_stamping {
        return Err(fail(format!(
            "the certificate of {} is not for time stamping (no timeStamping key usage)",
            tbs.subject
        )));
    }
    let when = tst.gen_time.to_unix_duration();
    let (from, until) = (tbs.validity.not_before.to_unix_duration(), tbs.validity.not_after.to_unix_duration());
    if when < from || when > until {
        return Err(fail(format!(
            "the stamped time {} is outside the TSA certificate's validity",
            tst.gen_time.to_date_time()
        )));
    }
    Ok(StampedTime {
        time: tst.gen_time.to_date_time().to_string(),
        unix_seconds: when.as_secs(),
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        tsa: tbs.subject.to_string(),
        data_sha256: hex::encode(digest),
    })
}

fn check_signature(
    cert: &Certificate,
    algorithm: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), ClaimError> {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().map_err(fail)?;
    let bad =
        |e: &dyn std::fmt::Display| fail(format!("the signature does not verify under the given TSA certificate: {e}"));
    if algorithm == RSA_ENCRYPTION || algorithm == SHA256_WITH_RSA {
        let key = rsa::RsaPublicKey::from_public_key_der(&spki)
            .map_err(|e| fail(format!("the TSA certificate has no RSA key: {e}")))?;
        let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|e| bad(&e))?;
        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key).verify(message, &sig).map_err(|e| bad(&e))
    } else if algorithm == ECDSA_WITH_SHA256 {
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki)
            .map_err(|e| fail(format!("the TSA certificate has no P-256 key: {e}")))?;
        let sig = p256::ecdsa::Signature::from_der(signature).map_err(|e| bad(&e))?;
        key.verify(message, &sig).map_err(|e| bad(&e))
    } else {
        Err(fail(format!("signature algorithm {algorithm} is not supported (RSA or ECDSA P-256 with SHA-256)")))
    }
}

#[cfg(test)]
#[path = "timestamp_tests.rs"]
mod tests;
