//! Python objects templates use: the `re.Match` of `load_file_regex`, and the `os`, `time`
//! and `datetime` modules.

use minijinja::value::{Object, Value};
use minijinja::{Error, ErrorKind};
use std::fmt;
use std::sync::Arc;

/// The result of `load_file_regex`: a Python `re.Match` with `.group(n)`, `.groups()` and `[n]`.
#[derive(Debug)]
pub(super) struct RegexMatch {
    pub(super) groups: Vec<Option<String>>,
    pub(super) span: (usize, usize),
}

impl RegexMatch {
    fn group(&self, index: &Value) -> std::result::Result<Value, Error> {
        let i = usize::try_from(index.clone())
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "group index must be an int"))?;
        match self.groups.get(i) {
            Some(g) => Ok(g.clone().map(Value::from).unwrap_or(Value::from(()))),
            None => Err(Error::new(ErrorKind::InvalidOperation, "no such group")),
        }
    }
}

impl Object for RegexMatch {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.group(key).ok()
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        match method {
            "group" => match args {
                [] => self.group(&Value::from(0)),
                [one] => self.group(one),
                many => Ok(Value::from(
                    many.iter()
                        .map(|a| self.group(a))
                        .collect::<std::result::Result<Vec<_>, _>>()?,
                )),
            },
            "groups" => Ok(Value::from(
                self.groups[1..]
                    .iter()
                    .map(|g| g.clone().map(Value::from).unwrap_or(Value::from(())))
                    .collect::<Vec<_>>(),
            )),
            "start" => Ok(Value::from(self.span.0)),
            "end" => Ok(Value::from(self.span.1)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<re.Match object; span=({}, {}), match='{}'>",
            self.span.0,
            self.span.1,
            self.groups[0].as_deref().unwrap_or("")
        )
    }
}

/// The restricted `os` module: `os.environ`, `os.getenv()`, `os.sep`, `os.pathsep`.
#[derive(Debug)]
pub(super) struct OsModule {
    pub(super) environ: Value,
}

impl Object for OsModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "environ" => Some(self.environ.clone()),
            "sep" => Some(Value::from(std::path::MAIN_SEPARATOR.to_string())),
            "pathsep" => Some(Value::from(if cfg!(windows) { ";" } else { ":" })),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        if method != "getenv" {
            return Err(Error::from(ErrorKind::UnknownMethod));
        }
        let key = args.first().cloned().unwrap_or_default();
        Ok(self
            .environ
            .get_item(&key)
            .ok()
            .filter(|v| !v.is_undefined())
            .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(()))))
    }
}

/// The `time` module: `time.time()`, `time.strftime(fmt)`.
#[derive(Debug)]
pub(super) struct TimeModule;

impl Object for TimeModule {
    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        let now = chrono::Local::now();
        match method {
            "time" => Ok(Value::from(now.timestamp_micros() as f64 / 1e6)),
            "strftime" => Ok(Value::from(strftime(&now, args)?)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn strftime(
    moment: &chrono::DateTime<chrono::Local>,
    args: &[Value],
) -> std::result::Result<String, Error> {
    let format = args.first().and_then(|f| f.as_str()).ok_or_else(|| {
        Error::new(
            ErrorKind::MissingArgument,
            "strftime() needs a format string",
        )
    })?;
    let items: Vec<_> = chrono::format::StrftimeItems::new(format).collect();
    if items.contains(&chrono::format::Item::Error) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("bad strftime format `{format}`"),
        ));
    }
    Ok(moment.format_with_items(items.into_iter()).to_string())
}

/// The `datetime` module: `datetime.datetime.now()`, `datetime.date.today()` and the
/// resulting objects' `.year`/`.month`/`.day`/`.strftime()`.
#[derive(Debug)]
pub(super) enum Datetime {
    Module,
    Class {
        date_only: bool,
    },
    Moment {
        at: chrono::DateTime<chrono::Local>,
        date_only: bool,
    },
}

impl Object for Datetime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::{Datelike, Timelike};
        match (self.as_ref(), key.as_str()?) {
            (Datetime::Module, "datetime") => {
                Some(Value::from_object(Datetime::Class { date_only: false }))
            }
            (Datetime::Module, "date") => {
                Some(Value::from_object(Datetime::Class { date_only: true }))
            }
            (Datetime::Moment { at, .. }, field) => match field {
                "year" => Some(Value::from(at.year())),
                "month" => Some(Value::from(at.month())),
                "day" => Some(Value::from(at.day())),
                "hour" => Some(Value::from(at.hour())),
                "minute" => Some(Value::from(at.minute())),
                "second" => Some(Value::from(at.second())),
                _ => None,
            },
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        match (self.as_ref(), method) {
            (Datetime::Class { date_only }, "now" | "today" | "utcnow") => {
                Ok(Value::from_object(Datetime::Moment {
                    at: chrono::Local::now(),
                    date_only: *date_only,
                }))
            }
            (Datetime::Moment { at, .. }, "strftime") => Ok(Value::from(strftime(at, args)?)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_ref() {
            Datetime::Moment {
                at,
                date_only: true,
            } => write!(f, "{}", at.format("%Y-%m-%d")),
            Datetime::Moment {
                at,
                date_only: false,
            } => write!(f, "{}", at.format("%Y-%m-%d %H:%M:%S%.6f")),
            Datetime::Module => write!(f, "<module 'datetime'>"),
            Datetime::Class { .. } => write!(f, "<class 'datetime'>"),
        }
    }
}
