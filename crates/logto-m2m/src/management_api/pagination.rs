//! Logto's pagination, without IO: `page` from 1, `page_size`, the total in `Total-Number`.

/// The page size lists ask for unless told otherwise: 100, the most Logto serves in a page (the
/// fewest requests).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Logto's largest page.
const MAX_PAGE_SIZE: u32 = 100;
/// The most pages one list fetches, whatever the server says: every loop is bounded.
const MAX_PAGES: u64 = 100_000;

/// Where a list is: the next page to ask for, and whether there is one.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    path: String,
    page: u64,
    page_size: u32,
    fetched: u64,
    total: Option<u64>,
    done: bool,
}

impl Cursor {
    pub(crate) fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
            fetched: 0,
            total: None,
            done: false,
        }
    }

    /// Sets the page size (1 to 100), before the first page.
    pub(crate) fn set_page_size(&mut self, page_size: u32) {
        self.page_size = page_size.clamp(1, MAX_PAGE_SIZE);
    }

    /// The path and query of the next page, or `None` after the last one.
    pub(crate) fn next_path(&self) -> Option<String> {
        if self.done {
            return None;
        }
        let separator = if self.path.contains('?') { '&' } else { '?' };
        Some(format!(
            "{}{separator}page={}&page_size={}",
            self.path, self.page, self.page_size
        ))
    }

    /// A page of `count` items arrived, with `total` from its `Total-Number` header. The list
    /// ends with an empty or short page, once `total` items arrived, or after [`MAX_PAGES`].
    pub(crate) fn record(&mut self, count: usize, total: Option<u64>) {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        self.fetched = self.fetched.saturating_add(count);
        self.total = total.or(self.total);
        self.done = count == 0
            || count < u64::from(self.page_size)
            || self.total.is_some_and(|total| self.fetched >= total)
            || self.page >= MAX_PAGES;
        self.page += 1;
    }

    /// A page failed: the list ends after reporting it.
    pub(crate) fn fail(&mut self) {
        self.done = true;
    }

    /// The `Total-Number` of the pages so far.
    pub(crate) fn total(&self) -> Option<u64> {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_asked_for_until_the_total_arrived() {
        let mut cursor = Cursor::new("/api/users");
        cursor.set_page_size(2);
        assert_eq!(
            cursor.next_path().as_deref(),
            Some("/api/users?page=1&page_size=2")
        );
        cursor.record(2, Some(4));
        assert_eq!(
            cursor.next_path().as_deref(),
            Some("/api/users?page=2&page_size=2")
        );
        cursor.record(2, Some(4));
        assert_eq!(cursor.next_path(), None);
        assert_eq!(cursor.total(), Some(4));
    }

    #[test]
    fn without_a_total_a_short_or_empty_page_ends_the_list() {
        let mut cursor = Cursor::new("/api/applications?types=SPA");
        cursor.set_page_size(500);
        assert_eq!(
            cursor.next_path().as_deref(),
            Some("/api/applications?types=SPA&page=1&page_size=100")
        );
        cursor.record(100, None);
        assert!(cursor.next_path().is_some());
        cursor.record(3, None);
        assert_eq!(cursor.next_path(), None);

        let mut cursor = Cursor::new("/api/users");
        cursor.record(0, Some(50));
        assert_eq!(
            cursor.next_path(),
            None,
            "an empty page ends even a short total"
        );
    }
}
