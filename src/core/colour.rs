//! Which status a cell's background colour names (`docs/pages.md`, "KR tables staff wrote").
//!
//! Three steps, first match wins:
//!
//! 1. the operator's `[status] colours` in the config (any colour spelling);
//! 2. the bot's own palette ([`crate::core::render::colour`]), matched exactly;
//! 3. the hue: red and pink (345°–15°) at risk, orange and yellow (15°–65°)
//!    concerns, green (65°–170°) on track, blue (170°–260°) complete, grey
//!    (saturation under 15%) not scheduled, anything else no status.
//!
//! Colours are read with `csscolorparser` (CSS names, `#rgb`, `#rrggbb`,
//! `rgb()`, `hsl()`, and the bare hex MediaWiki accepts in `bgcolor=`). A
//! colour that is nearly white or nearly black (lightness above 97% or below
//! 3%) names nothing: staff use white to *clear* a cell's colour, and the
//! hue rule would otherwise read it as grey, "not scheduled".

use std::collections::BTreeMap;

use crate::core::records::Status;
use crate::core::render::colour;

/// Colour → status, as configured plus the built-in rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Palette {
    /// `[status] colours`: (RGB, status), in the config's order.
    custom: Vec<([u8; 3], Status)>,
}

/// A `[status] colours` entry that is not a colour or not a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[status] colours: {0}")]
pub struct PaletteError(String);

impl Palette {
    /// The palette of `[status] colours` (`colour = "status"`).
    pub fn from_config(colours: &BTreeMap<String, String>) -> Result<Palette, PaletteError> {
        let mut custom = Vec::new();
        for (css, status) in colours {
            let rgb = rgb(css).ok_or_else(|| {
                PaletteError(format!(
                    "{css:?} is not a colour (use a CSS name, #rgb, #rrggbb or rgb(r, g, b))"
                ))
            })?;
            let status: Status = status
                .parse()
                .map_err(|e| PaletteError(format!("{css:?}: {e}")))?;
            custom.push((rgb, status));
        }
        Ok(Palette { custom })
    }

    /// The status the colour `css` names, if any.
    pub fn status_of(&self, css: &str) -> Option<Status> {
        let value = rgb(css)?;
        if let Some((_, s)) = self.custom.iter().find(|(c, _)| *c == value) {
            return Some(*s);
        }
        if let Some(s) = Status::ALL
            .into_iter()
            .find(|s| rgb(colour(*s)) == Some(value))
        {
            return Some(s);
        }
        by_hue(value)
    }

    /// The colour the bot paints a cell of `status` in a staff table: the
    /// first configured colour for it, else the bot's own.
    pub fn colour_for(&self, status: Status) -> String {
        match self.custom.iter().find(|(_, s)| *s == status) {
            Some(([r, g, b], _)) => format!("#{r:02x}{g:02x}{b:02x}"),
            None => colour(status).to_string(),
        }
    }
}

/// The RGB of a CSS colour (also bare hex, as in `bgcolor=ffcc00`); `None`
/// for anything else, a transparent colour included.
pub fn rgb(css: &str) -> Option<[u8; 3]> {
    let t = css.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if t.is_empty() {
        return None;
    }
    let parsed = csscolorparser::parse(t).ok().or_else(|| {
        let bare = t.len() == 3 || t.len() == 6;
        (bare && t.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| csscolorparser::parse(&format!("#{t}")).ok())
            .flatten()
    })?;
    let [r, g, b, a] = parsed.to_rgba8();
    (a > 0).then_some([r, g, b])
}

/// The hue rule of `docs/pages.md`.
fn by_hue([r, g, b]: [u8; 3]) -> Option<Status> {
    let colour = csscolorparser::Color::from_rgba8(r, g, b, 255);
    let [h, s, l, _] = colour.to_hsla();
    if !(0.03..=0.97).contains(&l) {
        return None;
    }
    if s < 0.15 || h.is_nan() {
        return Some(Status::NotScheduled);
    }
    match h {
        h if !(15.0..345.0).contains(&h) => Some(Status::AtRisk),
        h if h < 65.0 => Some(Status::Concerns),
        h if h < 170.0 => Some(Status::OnTrack),
        h if h < 260.0 => Some(Status::Complete),
        _ => None,
    }
}

/// The background colour an HTML `style` attribute gives (`background:`,
/// `background-color:`; the last one wins, as in CSS).
pub fn style_background(style: &str) -> Option<String> {
    let mut found = None;
    for decl in style.split(';') {
        let Some((name, value)) = decl.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name != "background" && name != "background-color" {
            continue;
        }
        let value = value.trim().trim_end_matches("!important").trim();
        // `background: #fff url(…) no-repeat`: the colour is one of the
        // words (rgb(…) has spaces inside, so try the whole value first).
        if rgb(value).is_some() {
            found = Some(value.to_string());
            continue;
        }
        if let Some(word) = value.split_whitespace().find(|w| rgb(w).is_some()) {
            found = Some(word.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_colours() {
        assert_eq!(rgb("#b6d7a8"), Some([0xb6, 0xd7, 0xa8]));
        assert_eq!(rgb("#9f9"), Some([0x99, 0xff, 0x99]));
        assert_eq!(rgb("rgb(255, 229, 153)"), Some([255, 229, 153]));
        assert_eq!(rgb("LightCoral"), Some([240, 128, 128]));
        assert_eq!(rgb("ffcc00"), Some([255, 204, 0]));
        assert_eq!(rgb("transparent"), None);
        assert_eq!(rgb("not a colour"), None);
        assert_eq!(rgb(""), None);
    }

    #[test]
    fn hues_name_statuses() {
        let p = Palette::default();
        assert_eq!(p.status_of("#e06666"), Some(Status::AtRisk));
        assert_eq!(p.status_of("pink"), Some(Status::AtRisk));
        assert_eq!(p.status_of("#ffe599"), Some(Status::Concerns));
        assert_eq!(p.status_of("orange"), Some(Status::Concerns));
        assert_eq!(p.status_of("#b6d7a8"), Some(Status::OnTrack));
        assert_eq!(p.status_of("lightgreen"), Some(Status::OnTrack));
        assert_eq!(p.status_of("#6fa8dc"), Some(Status::Complete));
        assert_eq!(p.status_of("#cccccc"), Some(Status::NotScheduled));
        assert_eq!(p.status_of("violet"), None);
        // White and black clear a colour; they name nothing.
        assert_eq!(p.status_of("#fff"), None);
        assert_eq!(p.status_of("black"), None);
    }

    #[test]
    fn the_bots_palette_is_matched_exactly() {
        let p = Palette::default();
        // The bot's "Complete" is a green: by hue it would be on track.
        assert_eq!(p.status_of("#a8d5a2"), Some(Status::Complete));
        assert_eq!(p.status_of("#A8D5A2"), Some(Status::Complete));
        assert_eq!(p.status_of("#e2e3e5"), Some(Status::Paused));
        for s in Status::ALL {
            assert_eq!(p.status_of(colour(s)), Some(s));
            assert_eq!(p.colour_for(s), colour(s));
        }
    }

    #[test]
    fn configured_colours_come_first() {
        let mut map = BTreeMap::new();
        map.insert("#b6d7a8".to_string(), "complete".to_string());
        map.insert("violet".to_string(), "paused".to_string());
        let p = Palette::from_config(&map).unwrap();
        assert_eq!(p.status_of("rgb(182,215,168)"), Some(Status::Complete));
        assert_eq!(p.status_of("violet"), Some(Status::Paused));
        assert_eq!(p.colour_for(Status::Complete), "#b6d7a8");
        assert_eq!(p.status_of("#e06666"), Some(Status::AtRisk));
        map.insert("mauve-ish".to_string(), "paused".to_string());
        assert!(Palette::from_config(&map).is_err());
        let mut bad = BTreeMap::new();
        bad.insert("red".to_string(), "reddish".to_string());
        assert!(Palette::from_config(&bad).is_err());
    }

    #[test]
    fn backgrounds_in_styles() {
        assert_eq!(
            style_background("background:#ffe599").as_deref(),
            Some("#ffe599")
        );
        assert_eq!(
            style_background("color:#000; background-color: lightcoral;").as_deref(),
            Some("lightcoral")
        );
        assert_eq!(
            style_background("background: rgb(1, 2, 3) !important").as_deref(),
            Some("rgb(1, 2, 3)")
        );
        assert_eq!(
            style_background("background: #fff url(x.png) no-repeat").as_deref(),
            Some("#fff")
        );
        assert_eq!(style_background("color: red"), None);
    }
}
