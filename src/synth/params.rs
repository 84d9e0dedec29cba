//! Track-feature marginals (interim): clipped normals with the published mean and spread of each
//! feature (MSSD_NOTES.md) and a correlation matrix with the three strongest known pairs.
#[derive(Clone, Copy, Debug)]
pub enum Marginal {
    Normal {
        mean: f64,
        sd: f64,
        min: f64,
        max: f64,
    },
}
impl Marginal {
    pub fn quantile(&self, _u: f64, z: f64) -> f64 {
        match *self {
            Marginal::Normal { mean, sd, min, max } => (mean + sd * z).clamp(min, max),
        }
    }
}
const fn n(mean: f64, sd: f64, min: f64, max: f64) -> Marginal {
    Marginal::Normal { mean, sd, min, max }
}
pub const CONTINUOUS: [(&str, Marginal); 18] = [
    ("duration", n(233.19, 108.4, 30.0, 1800.0)),
    ("release_year", n(2009.26, 11.03, 1950.0, 2019.0)),
    ("us_popularity_estimate", n(95.574, 2.736, 90.0, 100.0)),
    ("acousticness", n(0.347, 0.3426, 0.0, 0.9958)),
    ("beat_strength", n(0.4617, 0.1718, 0.0, 1.0)),
    ("bounciness", n(0.4791, 0.199, 0.0, 0.9863)),
    ("danceability", n(0.5565, 0.1858, 0.0, 0.9978)),
    ("dyn_range_mean", n(7.848, 2.68, 0.0, 52.61)),
    ("energy", n(0.5918, 0.2603, 0.0, 1.0)),
    ("flatness", n(0.9935, 0.0552, 0.0, 1.1678)),
    ("instrumentalness", n(0.207, 0.3448, 0.0, 1.0)),
    ("liveness", n(0.2127, 0.1924, 0.0, 1.0)),
    ("loudness", n(-9.605, 5.733, -60.0, 6.275)),
    ("mechanism", n(0.4996, 0.2562, 0.0, 1.0)),
    ("organism", n(0.4619, 0.2509, 0.0, 0.9791)),
    ("speechiness", n(0.1045, 0.1386, 0.0, 0.9706)),
    ("tempo", n(120.07, 30.43, 0.0, 249.99)),
    ("valence", n(0.4815, 0.2725, 0.0, 1.0)),
];
pub const CORRELATION: [[f64; 18]; 18] = {
    let mut r = [[0.0; 18]; 18];
    let mut i = 0;
    while i < 18 {
        r[i][i] = 1.0;
        i += 1;
    }
    r[8][12] = 0.75;
    r[12][8] = 0.75;
    r[3][8] = -0.7;
    r[8][3] = -0.7;
    r[6][17] = 0.45;
    r[17][6] = 0.45;
    r
};
pub const KEY_P: [f64; 12] = [1.0; 12];
pub const TIME_SIGNATURE_P: [f64; 6] = [0.005, 0.02, 0.0, 0.1, 0.85, 0.025];
pub const MODE_MAJOR_P: f64 = 0.6515;
