//! One conditional `UpdateItem` on a transaction, built from parts.

use super::*;

/// One conditional `UpdateItem` on a transaction, built from parts so every write states its
/// guard, refreshes `updated_at`, and can append to the history in the same request.
#[derive(Default)]
pub(super) struct Change {
    set: Vec<String>,
    remove: Vec<&'static str>,
    conditions: Vec<String>,
    values: Item,
    history: Option<HistoryEntry>,
    to: Option<Status>,
    /// Narrower sources than the machine allows, where the writer needs them.
    only_from: Option<Vec<Status>>,
}

impl Change {
    pub(super) fn new() -> Self {
        Change::default()
    }

    /// Moves to `to`, guarded by the statuses the machine allows it from.
    pub(super) fn to(mut self, to: Status) -> Self {
        self.to = Some(to);
        self
    }

    /// Narrows the guard of [`Change::to`] to these statuses.
    pub(super) fn only_from(mut self, from: &[Status]) -> Self {
        self.only_from = Some(from.to_vec());
        self
    }

    pub(super) fn set(mut self, attribute: &'static str, value: AttributeValue) -> Self {
        self.set.push(format!("{attribute} = :{attribute}"));
        self.values.insert(format!(":{attribute}"), value);
        self
    }

    pub(super) fn add_one(mut self, attribute: &'static str) -> Self {
        self.set.push(format!(
            "{attribute} = if_not_exists({attribute}, :zero_{attribute}) + :one_{attribute}"
        ));
        self.values.insert(format!(":zero_{attribute}"), n(0));
        self.values.insert(format!(":one_{attribute}"), n(1));
        self
    }

    pub(super) fn remove(mut self, attribute: &'static str) -> Self {
        self.remove.push(attribute);
        self
    }

    /// An extra guard; its placeholders are given in `values`.
    pub(super) fn when(
        mut self,
        condition: &str,
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        self.conditions.push(format!("({condition})"));
        self.values
            .extend(values.into_iter().map(|(k, v)| (k.to_owned(), v)));
        self
    }

    pub(super) fn log(mut self, entry: HistoryEntry) -> Self {
        self.history = Some(entry);
        self
    }

    pub(super) fn render(mut self) -> (String, String, HashMap<String, String>, Item) {
        let mut names = HashMap::new();
        self.values.insert(":updated_at".into(), s(now_rfc3339()));
        self.set.push("updated_at = :updated_at".into());
        if let Some(to) = self.to {
            names.insert("#status".to_owned(), "status".to_owned());
            self.set.push("#status = :to_status".into());
            self.values.insert(":to_status".into(), s(to.as_str()));
            let allowed = Status::sources_of(to);
            let sources: Vec<String> = self
                .only_from
                .clone()
                .unwrap_or(allowed.clone())
                .iter()
                .filter(|from| allowed.contains(from))
                .enumerate()
                .map(|(i, from)| {
                    let key = format!(":from_{i}");
                    self.values.insert(key.clone(), s(from.as_str()));
                    key
                })
                .collect();
            self.conditions
                .push(format!("#status IN ({})", sources.join(", ")));
        } else {
            self.conditions.push("attribute_exists(pk)".into());
        }
        if let Some(entry) = &self.history {
            self.set
                .push("history = list_append(if_not_exists(history, :no_history), :entry)".into());
            self.values
                .insert(":no_history".into(), AttributeValue::L(Vec::new()));
            self.values.insert(
                ":entry".into(),
                AttributeValue::L(vec![history_to_attribute(entry)]),
            );
        }
        if self.conditions.iter().any(|c| c.contains("#status")) {
            names.insert("#status".to_owned(), "status".to_owned());
        }
        let mut update = format!("SET {}", self.set.join(", "));
        if !self.remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        (update, self.conditions.join(" AND "), names, self.values)
    }
}
