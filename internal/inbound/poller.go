package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// DefaultProcessedFolder is where the poller moves each message it stored.
const DefaultProcessedFolder = "Kizuna/Processed"

// DefaultPollInterval is how often the poller looks at a mailbox whose
// server does not offer IDLE (RFC 2177).
const DefaultPollInterval = 30 * time.Second

// IMAPTarget is a mailbox named by KIZUNA_IMAP_URL. Its String never shows
// the password, and writes the user escaped as in the URL (u%40x@host for
// the user u@x).
type IMAPTarget struct {
	TLS      bool // imaps: TLS from the first byte (port 993 by default)
	Plain    bool // imap:// to a loopback host, or ?tls=none: no STARTTLS
	Addr     string
	User     string
	password string
	Mailbox  string // INBOX by default
}

func (t IMAPTarget) String() string {
	scheme := "imap"
	if t.TLS {
		scheme = "imaps"
	}
	return scheme + "://" + url.User(t.User).String() + "@" + t.Addr + "/" + t.Mailbox
}

// ParseIMAPURL reads KIZUNA_IMAP_URL:
//
//	imaps://USER:PASS@HOST[:993]/MAILBOX     TLS (Google Workspace, Microsoft 365, any server)
//	imap://USER:PASS@HOST[:143]/MAILBOX      STARTTLS, required — except to a loopback
//	                                         host, or with ?tls=none, where the session is plain
//
// The mailbox is INBOX when the path is empty; user and password are
// percent-decoded. Its errors never hold the password.
func ParseIMAPURL(raw string) (IMAPTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return IMAPTarget{}, errors.New("KIZUNA_IMAP_URL is not a URL (imaps://USER:PASS@HOST/INBOX)")
	}
	t := IMAPTarget{}
	port := "143"
	switch strings.ToLower(u.Scheme) {
	case "imaps":
		t.TLS, port = true, "993"
	case "imap":
	default:
		return IMAPTarget{}, errors.New("KIZUNA_IMAP_URL: the scheme is imaps:// (or imap:// with STARTTLS)")
	}
	if u.Hostname() == "" {
		return IMAPTarget{}, errors.New("KIZUNA_IMAP_URL has no host")
	}
	t.Addr = u.Host
	if u.Port() == "" {
		t.Addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.User == nil || u.User.Username() == "" {
		return IMAPTarget{}, errors.New("KIZUNA_IMAP_URL has no user (imaps://USER:PASS@HOST/INBOX)")
	}
	t.User = u.User.Username()
	t.password, _ = u.User.Password()
	t.Mailbox = strings.TrimPrefix(u.Path, "/")
	if t.Mailbox == "" {
		t.Mailbox = "INBOX"
	}
	if !t.TLS {
		ip := net.ParseIP(u.Hostname())
		t.Plain = u.Query().Get("tls") == "none" || u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
	}
	return t, nil
}

// PollerOptions configure a Poller.
type PollerOptions struct {
	Target IMAPTarget
	// Folder receives the stored messages (DefaultProcessedFolder when
	// empty; "/" is replaced by the server's hierarchy delimiter). It is
	// created when missing.
	Folder string
	// Interval is how often a mailbox without IDLE is looked at (0:
	// DefaultPollInterval); with IDLE it is also looked at every 10
	// Intervals, in case a notification was missed.
	Interval time.Duration
	// NoIdle polls every Interval even when the server offers IDLE (for
	// servers whose IDLE misbehaves).
	NoIdle bool
	// TLSConfig is used for imaps and STARTTLS (nil: the system's roots).
	TLSConfig *tls.Config
	// MinBackoff and MaxBackoff bound the wait before a reconnection
	// (doubling; 0: 1 s and 5 min).
	MinBackoff, MaxBackoff time.Duration
	Log                    *slog.Logger
}

// Poller reads a mailbox over IMAP: it stores each message (Store) and
// only then moves it to the processed folder, so a crash in between stores
// it again on the next pass, which the sha256 deduplicates; nothing is
// lost and nothing is stored twice. Any number of pollers (two intakes) may
// read one mailbox.
type Poller struct {
	p   *Processor
	o   PollerOptions
	log *slog.Logger
}

// NewPoller builds a poller storing into p.
func (p *Processor) NewPoller(o PollerOptions) *Poller {
	if o.Folder == "" {
		o.Folder = DefaultProcessedFolder
	}
	if o.Interval <= 0 {
		o.Interval = DefaultPollInterval
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	pl := &Poller{p: p, o: o, log: o.Log}
	if pl.log == nil {
		pl.log = p.log
	}
	return pl
}

// Run reads the mailbox until ctx ends, reconnecting with a doubling wait
// after any failure (the server restarting, the network, a login refused).
// It returns nil when ctx ends.
func (pl *Poller) Run(ctx context.Context) error {
	wait := pl.o.MinBackoff
	for {
		connected, err := pl.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			wait = pl.o.MinBackoff
		}
		pl.log.Warn("inbound: IMAP session ended; reconnecting", "mailbox", pl.o.Target.String(),
			"retry_in", wait.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, pl.o.MaxBackoff)
	}
}

// dial connects and logs in.
func (pl *Poller) dial(onNew func()) (*imapclient.Client, error) {
	t := pl.o.Target
	opts := &imapclient.Options{
		TLSConfig: pl.o.TLSConfig,
		Dialer:    &net.Dialer{Timeout: 30 * time.Second},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					onNew()
				}
			},
		},
	}
	var c *imapclient.Client
	var err error
	switch {
	case t.TLS:
		c, err = imapclient.DialTLS(t.Addr, opts)
	case t.Plain:
		c, err = imapclient.DialInsecure(t.Addr, opts)
	default:
		c, err = imapclient.DialStartTLS(t.Addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	if err := c.Login(t.User, t.password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("log in to %s as %s: %w", t.Addr, t.User, err)
	}
	return c, nil
}

// session runs one connection: it stores and moves what is in the
// mailbox, then waits (IDLE or the interval) and does it again, until ctx
// ends or the connection fails. connected says the login succeeded.
func (pl *Poller) session(ctx context.Context) (connected bool, err error) {
	newMail := make(chan struct{}, 1)
	c, err := pl.dial(func() {
		select {
		case newMail <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return false, err
	}
	defer c.Close()
	// A context that ends closes the connection, which ends any command.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	folder, err := pl.ensureFolder(c)
	if err != nil {
		return true, err
	}
	if _, err := c.Select(pl.o.Target.Mailbox, nil).Wait(); err != nil {
		return true, fmt.Errorf("select %s: %w", pl.o.Target.Mailbox, err)
	}
	pl.log.Info("inbound: reading IMAP mailbox", "mailbox", pl.o.Target.String(), "idle", c.Caps().Has(imap.CapIdle) && !pl.o.NoIdle,
		"move", c.Caps().Has(imap.CapMove), "processed_folder", folder)
	for {
		if err := pl.pass(ctx, c, folder); err != nil {
			return true, err
		}
		if err := pl.wait(ctx, c, newMail); err != nil {
			return true, err
		}
	}
}

// ensureFolder finds or creates the processed folder and returns its name
// with the server's hierarchy delimiter.
func (pl *Poller) ensureFolder(c *imapclient.Client) (string, error) {
	root, err := c.List("", "", nil).Collect()
	if err != nil {
		return "", fmt.Errorf("list: %w", err)
	}
	name := pl.o.Folder
	if len(root) > 0 && root[0].Delim != 0 && root[0].Delim != '/' {
		name = strings.ReplaceAll(name, "/", string(root[0].Delim))
	}
	found, err := c.List("", name, nil).Collect()
	if err != nil {
		return "", fmt.Errorf("list %s: %w", name, err)
	}
	if len(found) > 0 {
		return name, nil
	}
	if err := c.Create(name, nil).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
			return name, nil // another intake created it meanwhile
		}
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	pl.log.Info("inbound: created the IMAP folder for processed mail", "folder", name)
	return name, nil
}

// batch is how many messages one FETCH reads before they are moved.
const batch = 50

// pass stores every message in the mailbox and moves each stored one to
// folder, in batches, until the mailbox is empty.
func (pl *Poller) pass(ctx context.Context, c *imapclient.Client, folder string) error {
	for {
		data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		uids := data.AllUIDs()
		if len(uids) == 0 {
			return nil
		}
		if len(uids) > batch {
			uids = uids[:batch]
		}
		stored, err := pl.fetchAndStore(ctx, c, uids)
		if len(stored) > 0 {
			// Whatever was stored is moved, even when a later message of
			// the batch failed.
			if merr := move(c, imap.UIDSetNum(stored...), folder); merr != nil {
				return errors.Join(err, merr)
			}
		}
		if err != nil {
			return err
		}
	}
}

// fetchAndStore reads the messages uids and stores each; it returns the
// uids stored (new or already there).
func (pl *Poller) fetchAndStore(ctx context.Context, c *imapclient.Client, uids []imap.UID) ([]imap.UID, error) {
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	defer cmd.Close()
	var stored []imap.UID
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid imap.UID
		var id int64
		var dup, got bool
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				var err error
				id, dup, err = pl.p.StoreReader(ctx, SourceIMAP, "", nil, it.Literal)
				if err != nil {
					return stored, err
				}
				got = true
			}
		}
		if got && uid != 0 {
			stored = append(stored, uid)
			pl.log.Debug("inbound message stored", "inbound_id", id, "duplicate", dup, "source", SourceIMAP, "uid", uid)
			pl.p.Wake()
		}
	}
	if err := cmd.Close(); err != nil {
		return stored, fmt.Errorf("fetch: %w", err)
	}
	return stored, nil
}

// move moves messages to folder: MOVE (RFC 6851) when the server has it,
// else COPY, then — only once the copy succeeded — STORE \Deleted and
// EXPUNGE (UID EXPUNGE, RFC 4315, when offered).
func move(c *imapclient.Client, uids imap.UIDSet, folder string) error {
	if c.Caps().Has(imap.CapMove) {
		if _, err := c.Move(uids, folder).Wait(); err != nil {
			return fmt.Errorf("move to %s: %w", folder, err)
		}
		return nil
	}
	if _, err := c.Copy(uids, folder).Wait(); err != nil {
		return fmt.Errorf("copy to %s: %w", folder, err)
	}
	if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return fmt.Errorf("flag as deleted: %w", err)
	}
	var err error
	if c.Caps().Has(imap.CapUIDPlus) {
		err = c.UIDExpunge(uids).Close()
	} else {
		err = c.Expunge().Close()
	}
	if err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}

// wait returns when there may be new mail: a notification during IDLE
// (RFC 2177), or the interval; an error when the connection ended.
func (pl *Poller) wait(ctx context.Context, c *imapclient.Client, newMail chan struct{}) error {
	// A notification that came during our own commands is stale only if
	// the mailbox is empty; looking once more costs one SEARCH.
	select {
	case <-newMail:
		return nil
	default:
	}
	if pl.o.NoIdle || !c.Caps().Has(imap.CapIdle) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Closed():
			return errors.New("the server closed the connection")
		case <-time.After(pl.o.Interval):
			return c.Noop().Wait()
		}
	}
	idle, err := c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	var ended error
	select {
	case <-ctx.Done():
		ended = ctx.Err()
	case <-c.Closed():
		ended = errors.New("the server closed the connection")
	case <-newMail:
	case <-time.After(10 * pl.o.Interval):
	}
	if ended != nil {
		idle.Close()
		return ended
	}
	if err := idle.Close(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if err := idle.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	return nil
}
