package database

// SlowQuery lets the external tests lower the slow-query threshold.
var SlowQuery = &slowQuery
