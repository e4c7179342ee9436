package main

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are parsed once: each page with the shared layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{"clock": clock, "short": short}
	m := map[string]*template.Template{}
	for _, name := range []string{"home.html", "signedin.html", "denied.html", "error.html"} {
		m[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name))
	}
	return m
}()

// pageData is what the templates see.
type pageData struct {
	Issuer, ClientID, RedirectURI string
	Scopes                        []string
	SignedOut                     bool
	CSRF                          string
	User                          *signedIn
	ErrorTitle, ErrorText         string
}

// signedIn is what the app knows after a sign-in.
type signedIn struct {
	Token   *oauth2.Token
	IDToken idTokenView
	API     apiResult
	Notice  *notice // the outcome of the last action, shown once
	Revoked bool
}

// Scopes are the scopes Gatehouse granted (the token response's scope).
func (u *signedIn) Scopes() []string {
	s, _ := u.Token.Extra("scope").(string)
	return strings.Fields(s)
}

// ExpiresIn is the access token's remaining lifetime.
func (u *signedIn) ExpiresIn() string {
	if u.Token.Expiry.IsZero() {
		return "unknown"
	}
	d := time.Until(u.Token.Expiry).Round(time.Second)
	if d <= 0 {
		return "expired"
	}
	return d.String()
}

// Parts are the raw token's header, payload and signature.
func (v idTokenView) Parts() []string {
	if p := strings.Split(v.Raw, "."); len(p) == 3 {
		return p
	}
	return nil
}

// idTokenView is a verified ID token for display.
type idTokenView struct {
	Raw, Header, Claims string // header and claims as indented JSON
	Subject, Username   string
	IssuedAt, Expiry    time.Time
}

// apiResult is the answer of the protected resource.
type apiResult struct {
	URL             string
	Status          int
	Body            string
	WWWAuthenticate string
}

func (r apiResult) OK() bool { return r.Status == http.StatusOK }

type notice struct {
	Kind, Title string // Kind: ok, warn or error
	Lines       []string
}

// render writes a page; the notice of the last action is shown once.
func (a *app) render(w http.ResponseWriter, status int, name string, d pageData) {
	d.Issuer = a.cfg.Issuer
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		a.log.Error("template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if d.User != nil {
		d.User.Notice = nil
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page.
func (a *app) fail(w http.ResponseWriter, status int, title, text string) {
	a.render(w, status, "error.html", pageData{ErrorTitle: title, ErrorText: text})
}
