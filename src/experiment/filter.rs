//! `--cells FILTER`: which cells of a plan to run.
//!
//! A filter is a comma-separated list of alternatives; a cell is selected when it matches any of
//! them. An alternative is one or more conditions joined by `&`, all of which must hold. A
//! condition is `param=glob` (on a parameter's value) or a bare `glob` (on the cell id); globs know
//! `*` and `?`. Examples: `dtype=float16`, `N=1&dtype=float32,conv1-*`.
//! The workflow's `cells` input takes the same language (see workflow-templates/outrun_cell.py).

use super::{Cell, ExperimentError};

#[derive(Debug, Clone)]
enum Cond {
    Id(String),
    Param(String, String),
}

#[derive(Debug, Clone)]
pub struct Filter {
    text: String,
    alternatives: Vec<Vec<Cond>>,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, ExperimentError> {
        let err = |message: String| ExperimentError::Filter {
            filter: text.into(),
            message,
        };
        let mut alternatives = Vec::new();
        for alt in text.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let mut conds = Vec::new();
            for c in alt.split('&').map(str::trim) {
                if c.is_empty() {
                    return Err(err(format!("empty condition in `{alt}`")));
                }
                conds.push(match c.split_once('=') {
                    Some((k, v)) => Cond::Param(k.trim().into(), v.trim().into()),
                    None => Cond::Id(c.into()),
                });
            }
            alternatives.push(conds);
        }
        Ok(Filter {
            text: text.into(),
            alternatives,
        })
    }

    pub fn matches(&self, cell: &Cell) -> bool {
        self.alternatives.is_empty()
            || self.alternatives.iter().any(|alt| {
                alt.iter().all(|c| match c {
                    Cond::Id(g) => glob(g, &cell.id),
                    Cond::Param(k, g) => cell.get(k).is_some_and(|v| glob(g, v)),
                })
            })
    }

    /// The selected cells; naming an unknown parameter or selecting nothing is an error, since
    /// either is almost always a typo.
    pub fn select(&self, cells: &[Cell], params: &[String]) -> Result<Vec<Cell>, ExperimentError> {
        for alt in &self.alternatives {
            for c in alt {
                if let Cond::Param(k, _) = c
                    && !params.contains(k)
                {
                    let hint = super::closest(k, params.iter().map(String::as_str))
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_else(|| format!(" (parameters: {})", params.join(", ")));
                    return Err(ExperimentError::Filter {
                        filter: self.text.clone(),
                        message: format!("no parameter `{k}`{hint}"),
                    });
                }
            }
        }
        let out: Vec<Cell> = cells.iter().filter(|c| self.matches(c)).cloned().collect();
        if out.is_empty() {
            return Err(ExperimentError::Filter {
                filter: self.text.clone(),
                message: "selects no cell".into(),
            });
        }
        Ok(out)
    }
}

/// `*` matches any run of characters, `?` any one character.
pub fn glob(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(l: &str, n: &str) -> Cell {
        Cell::new(vec![("layer".into(), l.into()), ("N".into(), n.into())])
    }

    #[test]
    fn alternatives_and_conditions() {
        let cells = vec![
            cell("conv1", "1"),
            cell("conv1", "8"),
            cell("layer1.0.conv1", "1"),
        ];
        let params = vec!["layer".to_string(), "N".to_string()];
        let f = Filter::parse("layer=conv1&N=8, layer=layer1*").unwrap();
        let got: Vec<_> = f
            .select(&cells, &params)
            .unwrap()
            .into_iter()
            .map(|c| c.params)
            .collect();
        assert_eq!(got, vec![cells[1].params.clone(), cells[2].params.clone()]);
        let by_id = Filter::parse(&cells[0].id).unwrap();
        assert_eq!(by_id.select(&cells, &params).unwrap().len(), 1);
        assert!(
            Filter::parse("")
                .unwrap()
                .select(&cells, &params)
                .unwrap()
                .len()
                == 3
        );
        let e = Filter::parse("lyer=conv1")
            .unwrap()
            .select(&cells, &params)
            .unwrap_err();
        assert!(e.to_string().contains("did you mean `layer`"), "{e}");
        assert!(
            Filter::parse("N=3")
                .unwrap()
                .select(&cells, &params)
                .is_err()
        );
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(!glob("conv1", "conv10"));
    }
}
