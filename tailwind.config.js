// Tailwind CSS v3 configuration for the Gatehouse dashboard.
// Build with `npm run build:css`; the output (static/css/app.css) is committed.
const colors = require("tailwindcss/colors");
const defaultTheme = require("tailwindcss/defaultTheme");

/** @type {import('tailwindcss').Config} */
module.exports = {
  content: [
    "./views/**/*.templ",
    "./views/**/*.go",
    "./handlers/**/*.go",
  ],
  theme: {
    extend: {
      colors: {
        // One name for the brand colour so it can be changed in one place.
        primary: colors.indigo,
      },
      fontFamily: {
        // System fonts only: nothing is fetched at run time.
        sans: [
          "ui-sans-serif", "system-ui", "-apple-system", '"Segoe UI"', "Roboto",
          '"Helvetica Neue"', "Arial", '"Noto Sans"', "sans-serif",
          '"Apple Color Emoji"', '"Segoe UI Emoji"', '"Segoe UI Symbol"', '"Noto Color Emoji"',
        ],
        mono: defaultTheme.fontFamily.mono,
      },
    },
  },
  plugins: [require("@tailwindcss/forms")],
};
